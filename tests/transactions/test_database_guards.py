"""The database refuses what would corrupt the ledger, even from code that bypasses the service
(QuerySet.update(), .delete(), raw SQL). Triggers: transactions/migrations/0002_ledger_guards.sql,
the balance check's 0011_balance_check_per_statement.sql."""

import uuid
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
    """The foreign keys are checked at commit; the test's transaction never commits, so ask
    PostgreSQL to check them now."""
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
    assert refused(lambda: Transaction.objects.filter(id=transfer.id).update(status="REVERSED")) is None
    # A FAILED transaction must have no entries, so this one cannot become FAILED.
    assert refused(lambda: Transaction.objects.filter(id=transfer.id).update(status="FAILED")) is not None


# A transaction and its entries in ONE statement, as every writer of the service writes them: the
# balance is checked when the statement that writes either ends.
WRITE_SQL = """
    WITH txn AS (
        INSERT INTO transactions_transaction (id, kind, status, from_account_id, to_account_id, amount, currency,
            failure_reason, initiator_id, idempotency_id, reason, metadata, created_at, updated_at)
        VALUES (%(id)s, 'TRANSFER', 'COMPLETED', %(source)s, %(target)s, 500, %(currency)s,
            '', %(user)s, %(key)s, '', '{}', now(), now())
    )
    INSERT INTO transactions_ledgerentry (transaction_id, account_id, type, amount, balance_after, created_at)
    SELECT %(id)s, entry.account, entry.type, entry.amount, 0, now()
    FROM unnest(%(accounts)s::uuid[], %(types)s::varchar[], %(amounts)s::bigint[]) AS entry (account, type, amount)
"""


def completed_with_entries(user, source, target, entries, currency="INR"):
    """Write a COMPLETED transaction of 5.00 from `source` to `target` with the given entries
    (type, account or a bare account id, amount), around the service."""

    def write():
        key = IdempotencyKey.objects.create(initiator=user, key=f"raw-{len(entries)}-{entries}", fingerprint="x")
        execute(
            WRITE_SQL,
            {
                "id": uuid.uuid4(),
                "source": source.id,
                "target": target.id,
                "currency": currency,
                "user": user.id,
                "key": key.id,
                "accounts": [getattr(account, "id", account) for _, account, _ in entries],
                "types": [side for side, _, _ in entries],
                "amounts": [amount for _, _, amount in entries],
            },
        )

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
        lambda s, t, x: [("DEBIT", s, 500), ("CREDIT", uuid.uuid4(), 500)],
    ],
    ids=[
        "debit without its credit",
        "no entries",
        "credit of another amount",
        "credit on a third account",
        "sides swapped",
        "credit on an account that does not exist",
    ],
)
def test_unbalanced_completed_transactions_are_refused(user, entries):
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


# The balance is checked when each statement that writes a transaction or an entry ends, whatever
# else the database transaction wrote before. These run with no savepoint around the writes
# (transaction=True), as production does.


@pytest.mark.django_db(transaction=True)
def test_an_entry_added_later_to_a_committed_transaction_is_refused(user):
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
    source, target = AccountFactory(owner=user), AccountFactory()
    write = completed_with_entries(user, source, target, [("DEBIT", source, 500), ("CREDIT", target, 499)])
    assert "not balanced" in str(refused(write))
    assert not Transaction.objects.filter(from_account=source).exists()


def test_a_completed_transaction_without_entries_in_its_statement_is_refused(user):
    # The service writes a transaction and its entries in one statement; one written alone is
    # refused at once, not later at commit.
    key = IdempotencyKey.objects.create(initiator=user, key="alone", fingerprint="x")
    source, target = AccountFactory(owner=user), AccountFactory()
    alone = {"kind": "TRANSFER", "from_account": source, "to_account": target, "amount": 500, "currency": "INR"}
    alone |= {"initiator": user, "idempotency": key}
    assert "not balanced" in str(refused(lambda: Transaction.objects.create(status="COMPLETED", **alone)))
    assert refused(lambda: Transaction.objects.create(status="FAILED", **alone)) is None


def test_entries_of_a_transaction_that_does_not_exist_are_refused(user):
    # The entries carry no foreign-key constraint (migration 0011): the balance check stands for it.
    account = AccountFactory(owner=user)
    sql = (
        "INSERT INTO transactions_ledgerentry (transaction_id, account_id, type, amount, balance_after, created_at)"
        " VALUES (%s, %s, 'DEBIT', 500, 0, now())"
    )
    assert "does not exist" in str(refused(lambda: execute(sql, [uuid.uuid4(), account.id])))
