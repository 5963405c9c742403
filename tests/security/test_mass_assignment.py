"""Mass assignment (OWASP API3): fields a client may not set are ignored, and no answer shows
what a client may not see.

Each write body below carries every field an attacker would try (privileges, ownership, balance,
status, ids, timestamps, currency); the object is created exactly as if they were absent.
"""

import uuid
from datetime import timedelta

from django.utils import timezone

from accounts.models import Account
from authn.models import User
from tests.conftest import bearer_client
from tests.factories import PASSWORD, AccountFactory, funded_account
from transactions.models import Transaction

CHOSEN_ID = str(uuid.uuid4())
LONG_AGO = "2000-01-01T00:00:00Z"
# Every field below is absent from the input serializers; the keys the API does take are
# named in each test.
PRIVILEGES = {
    "systemUser": True,
    "isSystem": True,
    "is_system": True,
    "isStaff": True,
    "is_staff": True,
    "isSuperuser": True,
    "is_superuser": True,
    "groups": [1],
    "userPermissions": [1],
}
RECORD = {"id": CHOSEN_ID, "createdAt": LONG_AGO, "updatedAt": LONG_AGO, "dateJoined": LONG_AGO}


def _recent(moment):
    return timezone.now() - moment < timedelta(minutes=1)


def test_register_takes_only_name_email_and_password(client, db, other_user):
    body = {
        **PRIVILEGES,
        **RECORD,
        "name": "Mallory",
        "email": "mallory@example.com",
        "password": "s3cure-pass-word",
        "balance": "1000000.00",
        "owner": str(other_user.id),
        "isActive": False,
    }

    response = client.post("/api/auth/register", body, format="json")

    assert response.status_code == 201, response.content
    user = User.objects.get(email="mallory@example.com")
    assert (user.is_system, user.is_staff, user.is_superuser, user.is_active) == (False, False, False, True)
    assert str(user.id) != CHOSEN_ID and _recent(user.date_joined)
    assert not user.groups.exists() and not user.user_permissions.exists()
    assert not Account.objects.filter(owner=user).exists()


def test_account_open_takes_only_the_currency(auth_client, user, other_user):
    body = {**PRIVILEGES, **RECORD, "owner": str(other_user.id), "status": "FROZEN", "balance": "1000000.00"}

    response = auth_client.post("/api/accounts", body, format="json")

    assert response.status_code == 201, response.content
    account = Account.objects.get()
    assert (account.owner, account.status, account.balance, account.is_system, account.currency) == (
        user,
        "ACTIVE",
        0,
        False,
        "INR",
    )
    assert str(account.id) != CHOSEN_ID and _recent(account.created_at)


def test_transfer_takes_only_accounts_amount_and_key(auth_client, user, other_user):
    source = funded_account("100.00", owner=user)
    target = AccountFactory(owner=other_user)
    somebody_elses = funded_account("100.00", owner=other_user)
    body = {
        **RECORD,
        "fromAccount": str(source.id),
        "toAccount": str(target.id),
        "amount": "10.00",
        "idempotencyKey": "k",
        "currency": "USD",
        "status": "FAILED",
        "kind": "FUNDING",
        "failureReason": None,
        "reverses": str(uuid.uuid4()),
        "initiator": str(other_user.id),
        "owner": str(other_user.id),
        "balance": "0.00",
        "entries": [{"account": str(somebody_elses.id), "type": "DEBIT", "amount": "100.00"}],
    }

    response = auth_client.post("/api/transactions", body, format="json")

    assert response.status_code == 201, response.content
    txn = Transaction.objects.get(idempotency__key="k")
    assert (txn.kind, txn.status, txn.currency, txn.amount, txn.initiator, txn.reverses_id) == (
        "TRANSFER",
        "COMPLETED",
        "INR",
        10_00,
        user,
        None,
    )
    assert str(txn.id) != CHOSEN_ID and _recent(txn.created_at)
    assert sorted(txn.entries.values_list("account_id", "amount")) == sorted([(source.id, 10_00), (target.id, 10_00)])
    balances = dict(Account.objects.values_list("id", "balance"))
    assert (balances[source.id], balances[target.id], balances[somebody_elses.id]) == (90_00, 10_00, 100_00)


def test_funding_always_debits_the_system_funding_account(system_client, user):
    """A system user's funding request naming a customer's account as the source still mints."""
    customer = funded_account("100.00", owner=user)
    target = AccountFactory()

    response = system_client.post(
        "/api/transactions/system/initial-funds",
        {"fromAccount": str(customer.id), "toAccount": str(target.id), "amount": "5", "idempotencyKey": "k"},
        format="json",
    )

    assert response.status_code == 201, response.content
    txn = Transaction.objects.get(idempotency__key="k")
    assert txn.from_account.is_system and txn.from_account_id != customer.id
    customer.refresh_from_db()
    assert customer.balance == 100_00


# --- what answers never show ------------------------------------------------------------------

FORBIDDEN_KEYS = {
    "password",
    "isStaff",
    "is_staff",
    "isSuperuser",
    "is_superuser",
    "isSystem",
    "is_system",
    "isActive",
    "is_active",
    "lastLogin",
    "last_login",
    "groups",
    "userPermissions",
    "initiator",
    "fingerprint",
    "hashPassword",
}


def _keys(value):
    if isinstance(value, dict):
        return set(value) | set().union(*(_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value))
    return set()


def test_no_answer_carries_a_password_hash_or_an_internal_flag(client, user, system_user):
    account = funded_account("100.00", owner=user)
    login = client.post("/api/auth/login", {"email": user.email, "password": PASSWORD}, format="json")
    api = bearer_client(user)
    transfer = api.post(
        "/api/transactions",
        {"fromAccount": str(account.id), "toAccount": str(AccountFactory().id), "amount": "1", "idempotencyKey": "k"},
        format="json",
    )
    answers = [
        client.post(
            "/api/auth/register",
            {"name": "Ann", "email": "ann@example.com", "password": "s3cure-pass-word"},
            format="json",
        ),
        login,
        client.post("/api/auth/refresh", {"refresh": login.json()["refresh"]}, format="json"),
        api.get("/api/auth/me"),
        bearer_client(system_user).get("/api/auth/me"),
        api.post("/api/accounts", {}, format="json"),
        api.get("/api/accounts"),
        api.get(f"/api/accounts/{account.id}"),
        api.get(f"/api/accounts/balance/{account.id}"),
        api.get(f"/api/accounts/{account.id}/entries"),
        transfer,
        api.get("/api/transactions"),
        api.get(f"/api/transactions/{transfer.json()['transaction']['id']}"),
    ]

    for answer in answers:
        assert answer.status_code in (200, 201), answer.content
        assert not _keys(answer.json()) & FORBIDDEN_KEYS, answer.json()
        text = answer.content.decode()
        assert "argon2" not in text and "pbkdf2" not in text and user.password not in text
