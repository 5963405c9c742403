"""Operator commands: create_system_user, fund_account, verify_ledger."""

import re
import uuid
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import Account
from accounts.services import account_freeze
from authn.models import User
from tests.factories import AccountFactory, SystemUserFactory, UserFactory, funded_account
from transactions.models import LedgerAudit, LedgerEntry, Transaction
from transactions.services import transfer_create

from .state import assert_ledger_ok

PASSWORD = "a-long-operator-passphrase"


def run(*args, **options) -> str:
    out = StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


# --- create_system_user ---------------------------------------------------------------------


def test_create_system_user(db):
    out = run(
        "create_system_user", "--email", " Ops@Ledger.Local ", "--name", "Ops", "--password", PASSWORD, "--no-input"
    )

    user = User.objects.get()
    assert (user.email, user.name, user.is_system) == ("ops@ledger.local", "Ops", True)
    assert user.check_password(PASSWORD)
    funding = Account.objects.filter(owner=user)
    assert sorted(funding.values_list("currency", flat=True)) == sorted(settings.SUPPORTED_CURRENCIES)
    assert all(account.is_system and account.balance == 0 for account in funding)
    assert "System user ops@ledger.local created." in out
    for account in funding:
        assert f"funding account {account.currency}: {account.id}" in out


def test_create_system_user_is_idempotent(db):
    run("create_system_user", "--email", "ops@ledger.local", "--name", "Ops", "--password", PASSWORD, "--no-input")
    first_accounts = set(Account.objects.values_list("id", flat=True))

    out = run("create_system_user", "--email", "OPS@ledger.local", "--name", "Ops", "--no-input")

    assert User.objects.count() == 1
    assert set(Account.objects.values_list("id", flat=True)) == first_accounts
    assert "already exists" in out
    assert User.objects.get().check_password(PASSWORD)  # no password given: unchanged


def test_create_system_user_promotes_an_existing_user(db):
    existing = UserFactory(email="ops@ledger.local")

    out = run("create_system_user", "--email", "ops@ledger.local", "--name", "Ops", "--no-input")

    existing.refresh_from_db()
    assert existing.is_system
    assert "already exists" in out
    assert Account.objects.filter(owner=existing, is_system=True).count() == len(settings.SUPPORTED_CURRENCIES)


def test_create_system_user_adds_funding_accounts_for_new_currencies(db, settings):
    settings.SUPPORTED_CURRENCIES = ["INR"]
    run("create_system_user", "--email", "ops@ledger.local", "--name", "Ops", "--password", PASSWORD, "--no-input")
    settings.SUPPORTED_CURRENCIES = ["INR", "USD"]

    run("create_system_user", "--email", "ops@ledger.local", "--name", "Ops", "--no-input")

    assert sorted(Account.objects.values_list("currency", flat=True)) == ["INR", "USD"]


def test_create_system_user_generates_a_password_once(db):
    out = run("create_system_user", "--email", "ops@ledger.local", "--name", "Ops", "--no-input")

    (line,) = [line for line in out.splitlines() if "password:" in line]
    generated = line.split("password:")[1].split()[0]
    assert User.objects.get().check_password(generated)


def test_create_system_user_refuses_a_weak_password(db):
    with pytest.raises(CommandError):
        run("create_system_user", "--email", "ops@ledger.local", "--name", "Ops", "--password", "123", "--no-input")

    assert not User.objects.exists()


# --- fund_account ---------------------------------------------------------------------------


@pytest.fixture
def system(db):
    return SystemUserFactory()


def test_fund_account(system, account):
    out = run("fund_account", str(account.id), "250.50")

    txn = Transaction.objects.get()
    assert (txn.kind, txn.status, txn.amount, txn.initiator) == ("FUNDING", "COMPLETED", 250_50, system)
    assert Account.objects.get(id=account.id).balance == 250_50
    assert Account.objects.get(owner=system, currency="INR").balance == -250_50
    assert out.strip() == f"Funded: transaction {txn.id} (COMPLETED)"
    assert_ledger_ok()


def test_fund_account_with_an_idempotency_key_funds_once(system, account):
    run("fund_account", str(account.id), "100", "--idempotency-key", "seed-1")

    out = run("fund_account", str(account.id), "100", "--idempotency-key", "seed-1")

    txn = Transaction.objects.get()
    assert out.strip() == f"Replayed: transaction {txn.id} (COMPLETED)"
    assert Account.objects.get(id=account.id).balance == 100_00
    assert_ledger_ok()


def test_fund_account_without_a_key_funds_every_time(system, account):
    run("fund_account", str(account.id), "1")
    run("fund_account", str(account.id), "1")

    assert Account.objects.get(id=account.id).balance == 2_00


def test_fund_account_from_a_named_system_user(system, account):
    other_system = SystemUserFactory()

    run("fund_account", str(account.id), "1", "--system-user", other_system.email.upper())

    assert Transaction.objects.get().initiator == other_system


@pytest.mark.parametrize(
    "account_id, amount, message",
    [
        ("ACCOUNT", "1e3", 'Enter a positive amount as a plain decimal number, like 500 or "500.50".'),
        ("ACCOUNT", "0", "The amount must be greater than zero."),
        ("ACCOUNT", "-1", 'Enter a positive amount as a plain decimal number, like 500 or "500.50".'),
        ("ACCOUNT", "1.001", "validation_error: Invalid input. amount: INR amounts have at most 2 decimal places."),
        ("not-a-uuid", "1", "Not an account id: 'not-a-uuid'"),
        (str(uuid.uuid4()), "1", "invalid_account: Invalid account."),
    ],
)
def test_fund_account_refuses(system, account, account_id, amount, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        run("fund_account", str(account.id) if account_id == "ACCOUNT" else account_id, amount)

    assert not Transaction.objects.exists()


def test_fund_account_reports_a_decline(system, account):
    account_freeze(account_id=account.id)

    with pytest.raises(CommandError, match="account_inactive"):
        run("fund_account", str(account.id), "1")

    assert Transaction.objects.get().status == "FAILED"


def test_fund_account_needs_a_system_user(account):
    with pytest.raises(CommandError, match="No system user"):
        run("fund_account", str(account.id), "1")


# --- verify_ledger --------------------------------------------------------------------------


@pytest.fixture
def busy_ledger(user, other_user):
    source = funded_account("100.00", owner=user)
    target = funded_account("5.00", owner=other_user)
    for key, amount in [("a", "40"), ("b", "1000")]:  # one completed, one declined
        transfer_create(
            initiator=user,
            from_account_id=source.id,
            to_account_id=target.id,
            amount=Decimal(amount),
            idempotency_key=key,
        )
    return source, target


def test_verify_ledger_on_a_healthy_ledger(busy_ledger):
    out = run("verify_ledger")

    assert out.startswith("ledger OK:")
    assert "VIOLATION" not in out


def test_verify_ledger_on_an_empty_ledger(db):
    assert run("verify_ledger").startswith("ledger OK: 0 accounts, 0 transactions, 0 entries")


def test_verify_ledger_fails_on_a_corrupted_balance(busy_ledger):
    source, _ = busy_ledger
    # Around the services, as a bad migration or a manual UPDATE would.
    Account.objects.filter(id=source.id).update(balance=1_000_000)
    out = StringIO()

    with pytest.raises(CommandError, match="ledger invariants violated"):
        call_command("verify_ledger", stdout=out)

    assert out.getvalue().startswith("ledger VIOLATED:")
    assert "VIOLATION account balance equals its entries (credits - debits)" in out.getvalue()
    assert str(source.id) in out.getvalue()


@pytest.mark.parametrize("column", ["transaction_id", "account_id"])
def test_verify_ledger_finds_an_entry_of_a_missing_transaction_or_account(busy_ledger, column):
    # No foreign-key constraint keeps entries from pointing nowhere (transactions/0011): only the
    # balance-check trigger, which a superuser's session can switch off, as here.
    entry = LedgerEntry.objects.filter(type="CREDIT").first()
    missing = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(f"UPDATE transactions_ledgerentry SET {column} = %s WHERE id = %s", [missing, entry.id])
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
    out = StringIO()

    with pytest.raises(CommandError, match="ledger invariants violated"):
        call_command("verify_ledger", stdout=out)

    assert "VIOLATION no entries on failed or pending transactions, nor of a missing" in out.getvalue()
    assert str(missing if column == "transaction_id" else entry.transaction_id) in out.getvalue()


def test_accounts_without_money_are_fine(db):
    AccountFactory()

    assert run("verify_ledger").startswith("ledger OK: 1 accounts")


def test_verify_ledger_by_hand_is_recorded_like_the_nightly_run(busy_ledger, client, settings):
    settings.HEALTH_DETAILS_PUBLIC = True
    assert client.get("/api/health").json()["lastAudit"] is None

    out = run("verify_ledger")

    audit = LedgerAudit.objects.get()
    assert audit.ok and out.strip() == audit.summary
    last = client.get("/api/health").json()["lastAudit"]
    assert (last["ok"], last["summary"]) == (True, audit.summary)


def test_a_violation_found_by_hand_is_recorded_too(busy_ledger):
    source, _ = busy_ledger
    Account.objects.filter(id=source.id).update(balance=1_000_000)

    with pytest.raises(CommandError):
        call_command("verify_ledger", stdout=StringIO())

    audit = LedgerAudit.objects.get()
    assert not audit.ok
    assert str(source.id) in audit.violations["account balance equals its entries (credits - debits)"]
