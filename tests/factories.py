import uuid
from decimal import Decimal

import factory
from django.contrib.auth.hashers import make_password

from accounts.models import Account
from authn.models import User
from transactions.holds import hold_create
from transactions.services import funding_create, transfer_create

PASSWORD = "correct-horse-battery"
# Hashed once: Argon2 is deliberately slow and most tests only need a user that can log in.
_PASSWORD_HASH = make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Sequence(lambda n: f"User {n}")
    password = _PASSWORD_HASH


class SystemUserFactory(UserFactory):
    email = factory.Sequence(lambda n: f"system{n}@ledger.local")
    is_system = True


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    owner = factory.SubFactory(UserFactory)
    currency = "INR"


FUNDER_EMAIL = "funder@ledger.local"


def account_fund(account: Account, amount, *, system: User | None = None):
    """Bring `amount` (decimal text) into `account` the way production money enters: through
    the funding service, so balances, entries and every verify_ledger invariant agree."""
    if system is None:
        system = User.objects.filter(email=FUNDER_EMAIL).first() or SystemUserFactory(email=FUNDER_EMAIL)
    txn = funding_create(
        initiator=system,
        to_account_id=account.id,
        amount=Decimal(amount),
        idempotency_key=f"test-funding:{uuid.uuid4()}",
    ).transaction
    assert txn.status == "COMPLETED", txn.failure_reason
    account.refresh_from_db()
    return txn


def funded_account(amount, **kwargs) -> Account:
    """A new account (AccountFactory kwargs) holding `amount`, funded through the service."""
    account = AccountFactory(**kwargs)
    account_fund(account, amount)
    return account


def transfer(source: Account, target: Account, amount, key=None):
    """Move `amount` (decimal text) from `source` to `target` through transfer_create, as the
    source's owner; returns the transaction (COMPLETED, or FAILED on a decline)."""
    return transfer_create(
        initiator=source.owner,
        from_account_id=source.id,
        to_account_id=target.id,
        amount=Decimal(amount),
        idempotency_key=key or f"transfer-{uuid.uuid4()}",
    ).transaction


def hold(source: Account, target: Account, amount, key=None, *, expires_in=3600):
    """Reserve `amount` (decimal text) on `source` for `target` through hold_create, as the
    source's owner; returns the hold (PENDING, or FAILED on a decline)."""
    return hold_create(
        initiator=source.owner,
        from_account_id=source.id,
        to_account_id=target.id,
        amount=Decimal(amount),
        idempotency_key=key or f"hold-{uuid.uuid4()}",
        expires_in=expires_in,
    ).hold
