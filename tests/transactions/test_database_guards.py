"""The database refuses what would corrupt the ledger, even from code that bypasses the service
(QuerySet.update(), .delete(), raw SQL). Triggers: transactions/migrations/0002_ledger_guards.sql."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, InternalError, connection, transaction

from accounts.models import Account
from tests.factories import AccountFactory, funded_account
from transactions.audit import ledger_verify
from transactions.models import IdempotencyKey, LedgerEntry, Transaction
from transactions.services import transfer_create

REFUSED = (IntegrityError, InternalError)


@pytest.fixture
def transfer(user):
    source = funded_account("100.00", owner=user)
    target = AccountFactory()
    return transfer_create(
        initiator=user, from_account_id=source.id, to_account_id=target.id, amount=Decimal("10"), idempotency_key="k"
    ).transaction


def refused(operation):
    """Run `operation` in its own savepoint and return the database's refusal, if any."""
    try:
        with transaction.atomic():
            operation()
    except REFUSED as exc:
        return exc
    return None


def execute(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def check_deferred_now():
    """The balance check is deferred to commit; the test's transaction never commits, so ask
    PostgreSQL to run it now."""
    execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_normal_transfers_pass_every_guard(transfer):
    assert transfer.status == Transaction.Status.COMPLETED
    assert ledger_verify().ok


@pytest.mark.parametrize(
    "operation",
    [
        lambda t: LedgerEntry.objects.filter(transaction=t).update(amount=1),
        lambda t: LedgerEntry.objects.filter(transaction=t).update(balance_after=0),
        lambda t: LedgerEntry.objects.filter(transaction=t).delete(),
        lambda t: execute("DELETE FROM transactions_ledgerentry WHERE transaction_id = %s", [t.id]),
        # Pending deferred checks would block TRUNCATE by themselves; run them first.
        lambda t: (check_deferred_now(), execute("TRUNCATE transactions_ledgerentry CASCADE")),
        lambda t: (check_deferred_now(), execute("TRUNCATE transactions_transaction CASCADE")),
    ],
    ids=[
        "update amount",
        "update balance_after",
        "orm delete",
        "sql delete",
        "truncate entries",
        "truncate transactions",
    ],
)
def test_entries_are_append_only(transfer, operation):
    assert "append-only" in str(refused(lambda: operation(transfer)))
    assert LedgerEntry.objects.filter(transaction=transfer).count() == 2


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 1},
        {"currency": "USD"},
        {"kind": "FUNDING"},
        {"from_account_id": "SWAP"},
        {"to_account_id": "OTHER"},
        {"initiator_id": "OTHER_USER"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_what_a_transaction_moved_never_changes(transfer, other_user, change):
    other_account = AccountFactory()
    values = {
        "SWAP": transfer.to_account_id,
        "OTHER": other_account.id,
        "OTHER_USER": other_user.id,
    }
    change = {field: values.get(value, value) for field, value in change.items()}

    assert "cannot change" in str(refused(lambda: Transaction.objects.filter(id=transfer.id).update(**change)))


def test_a_transaction_cannot_be_deleted(transfer):
    assert "append-only" in str(
        refused(lambda: execute("DELETE FROM transactions_transaction WHERE id = %s", [transfer.id]))
    )


def test_only_the_status_of_a_transaction_may_change(transfer):
    # A reversal marks its original REVERSED: allowed, the entries still balance it.
    assert (
        refused(lambda: (Transaction.objects.filter(id=transfer.id).update(status="REVERSED"), check_deferred_now()))
        is None
    )
    # A FAILED transaction must have no entries, so this one cannot become FAILED.
    assert (
        refused(lambda: (Transaction.objects.filter(id=transfer.id).update(status="FAILED"), check_deferred_now()))
        is not None
    )


def completed_with_entries(user, source, target, entries, currency="INR"):
    """Write a COMPLETED transaction of 5.00 from `source` to `target` with the given entries
    (type, account, amount), around the service, and force the deferred check."""

    def write():
        key = IdempotencyKey.objects.create(initiator=user, key=f"raw-{len(entries)}-{entries}", fingerprint="x")
        txn = Transaction.objects.create(
            kind="TRANSFER",
            status="COMPLETED",
            from_account=source,
            to_account=target,
            amount=500,
            currency=currency,
            initiator=user,
            idempotency=key,
        )
        LedgerEntry.objects.bulk_create(
            [
                LedgerEntry(transaction=txn, account=a, type=t, amount=amount, balance_after=0)
                for t, a, amount in entries
            ]
        )
        check_deferred_now()

    return write


def test_a_balanced_raw_write_is_accepted(user):
    # The control for the refusals below: a correct pair written the same way passes.
    source, target = AccountFactory(owner=user), AccountFactory()
    assert (
        refused(completed_with_entries(user, source, target, [("DEBIT", source, 500), ("CREDIT", target, 500)])) is None
    )


@pytest.mark.parametrize(
    "entries",
    [
        lambda s, t, x: [("DEBIT", s, 500)],
        lambda s, t, x: [],
        lambda s, t, x: [("DEBIT", s, 500), ("CREDIT", t, 499)],
        lambda s, t, x: [("DEBIT", s, 500), ("CREDIT", x, 500)],
        lambda s, t, x: [("DEBIT", t, 500), ("CREDIT", s, 500)],
    ],
    ids=[
        "debit without its credit",
        "no entries",
        "credit of another amount",
        "credit on a third account",
        "sides swapped",
    ],
)
def test_unbalanced_completed_transactions_are_refused_at_commit(user, entries):
    source, target, third = AccountFactory(owner=user), AccountFactory(), AccountFactory()
    assert "not balanced" in str(refused(completed_with_entries(user, source, target, entries(source, target, third))))


def test_entries_of_another_currency_are_refused(user):
    inr, usd = AccountFactory(owner=user), AccountFactory(currency="USD")
    assert "not balanced" in str(
        refused(completed_with_entries(user, inr, usd, [("DEBIT", inr, 500), ("CREDIT", usd, 500)]))
    )


def test_entries_on_a_failed_transaction_are_refused(user):
    source, target = AccountFactory(owner=user), AccountFactory()
    failed = transfer_create(
        initiator=user, from_account_id=source.id, to_account_id=target.id, amount=Decimal("10"), idempotency_key="f"
    ).transaction
    assert failed.status == Transaction.Status.FAILED

    def add_entry():
        LedgerEntry.objects.create(
            transaction=failed, account=source, type="DEBIT", amount=failed.amount, balance_after=0
        )
        check_deferred_now()

    assert "FAILED transaction" in str(refused(add_entry))


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE accounts_account SET balance = -1 WHERE id = %s",
        "UPDATE accounts_account SET status = 'GONE' WHERE id = %s",
    ],
    ids=["negative customer balance", "unknown status"],
)
def test_account_check_constraints(user, sql):
    account = AccountFactory(owner=user)
    assert refused(lambda: execute(sql, [account.id])) is not None
    account.refresh_from_db()
    assert account.balance == 0 and account.status == Account.Status.ACTIVE


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE transactions_transaction SET status = 'LOST' WHERE id = %s",
        "INSERT INTO transactions_ledgerentry (transaction_id, account_id, type, amount, balance_after, created_at)"
        " SELECT id, from_account_id, 'CREDIX', amount, 0, now() FROM transactions_transaction WHERE id = %s",
        "INSERT INTO transactions_ledgerentry (transaction_id, account_id, type, amount, balance_after, created_at)"
        " SELECT id, from_account_id, 'DEBIT', 0, 0, now() FROM transactions_transaction WHERE id = %s",
    ],
    ids=["unknown status", "unknown entry type", "zero amount"],
)
def test_transaction_check_constraints(transfer, sql):
    assert refused(lambda: execute(sql, [transfer.id])) is not None


# At commit each transaction is checked once: an entry of a transaction that the same database
# transaction wrote leaves the check to the transaction's own (migration 0010). These run with no
# savepoint around the writes (transaction=True), as production does: inside the test's own
# transaction every row carries a savepoint's xid and nothing is skipped.


@pytest.mark.django_db(transaction=True)
def test_an_entry_added_later_to_a_committed_transaction_is_refused_at_commit(user):
    source = AccountFactory(owner=user)  # empty: the transfer is declined, a FAILED transaction
    failed = transfer_create(
        initiator=user,
        from_account_id=source.id,
        to_account_id=AccountFactory().id,
        amount=Decimal("10"),
        idempotency_key="k",
    ).transaction
    assert failed.status == Transaction.Status.FAILED

    def add_entry():
        LedgerEntry.objects.create(
            transaction=failed, account=source, type="DEBIT", amount=failed.amount, balance_after=0
        )

    assert "FAILED transaction" in str(refused(add_entry))
    assert not LedgerEntry.objects.filter(transaction=failed).exists()


@pytest.mark.django_db(transaction=True)
def test_a_transaction_written_with_unbalanced_entries_is_refused(user):
    # Outside any savepoint, so the entries leave the check to the transaction's own.
    source, target = AccountFactory(owner=user), AccountFactory()
    write = completed_with_entries(user, source, target, [("DEBIT", source, 500), ("CREDIT", target, 499)])
    assert "not balanced" in str(refused(write))
    assert not Transaction.objects.filter(from_account=source).exists()
