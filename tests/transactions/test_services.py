"""The ledger services called directly, without HTTP: what each writes, declines and replays."""

from decimal import Decimal

import pytest

from accounts.models import Account
from authn.exceptions import NotSystemUserError
from tests.factories import transfer
from transactions.exceptions import (
    AlreadyReversedError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    InvalidAccountError,
)
from transactions.models import IdempotencyKey, LedgerEntry, Transaction
from transactions.services import funding_create, transaction_reverse, transfer_create

from .state import assert_ledger_ok, balances, outbox_mark, outbox_since, transfers

pytestmark = pytest.mark.django_db


def entries(txn):
    return list(txn.entries.order_by("id").values_list("account_id", "type", "amount", "balance_after"))


def transfer_send(source, target, amount="40.00", key="key-1"):
    return transfer_create(
        initiator=source.owner,
        from_account_id=source.id,
        to_account_id=target.id,
        amount=Decimal(amount),
        idempotency_key=key,
    )


def test_transfer_create_moves_the_money_and_writes_both_entries(source, target):
    mark = outbox_mark()

    write = transfer_send(source, target)

    txn = write.transaction
    assert (write.replayed, txn.status, txn.amount, txn.failure_reason) == (False, "COMPLETED", 40_00, "")
    assert balances(source, target) == [60_00, 40_00]
    assert entries(txn) == [(source.id, "DEBIT", 40_00, 60_00), (target.id, "CREDIT", 40_00, 40_00)]
    assert IdempotencyKey.objects.get(initiator=source.owner, key="key-1").transaction == txn
    assert [row.to for row in outbox_since(mark)] == [source.owner.email, target.owner.email]
    assert_ledger_ok()


def test_transfer_create_declines_an_overdraft_as_a_failed_transaction(source, target):
    mark = outbox_mark()

    txn = transfer_send(source, target, "100.01").transaction

    assert (txn.status, txn.failure_reason) == ("FAILED", InsufficientFundsError.code)
    assert entries(txn) == []
    assert balances(source, target) == [100_00, 0]
    assert outbox_since(mark) == []
    assert_ledger_ok()


def test_transfer_create_from_another_users_account_writes_nothing(source, target):
    with pytest.raises(InvalidAccountError):
        transfer_create(
            initiator=target.owner,
            from_account_id=source.id,
            to_account_id=target.id,
            amount=Decimal("1.00"),
            idempotency_key="k",
        )

    assert not transfers().exists()
    assert not IdempotencyKey.objects.filter(key="k").exists()


def test_transfer_create_replays_the_first_outcome_for_the_same_key(source, target):
    first = transfer_send(source, target)

    again = transfer_send(source, target)

    assert (again.replayed, again.transaction.id) == (True, first.transaction.id)
    assert transfers().count() == 1
    assert balances(source, target) == [60_00, 40_00]


def test_transfer_create_refuses_a_key_used_for_another_amount(source, target):
    transfer_send(source, target)

    with pytest.raises(IdempotencyKeyReusedError):
        transfer_send(source, target, "10.00")

    assert transfers().count() == 1
    assert balances(source, target) == [60_00, 40_00]


def test_funding_create_mints_from_the_system_funding_account(system_user, account):
    write = funding_create(
        initiator=system_user, to_account_id=account.id, amount=Decimal("25.00"), idempotency_key="fund-1"
    )

    funding = Account.objects.get(owner=system_user, currency=account.currency, is_system=True)
    assert (write.replayed, write.transaction.status, write.transaction.kind) == (False, "COMPLETED", "FUNDING")
    assert balances(funding, account) == [-25_00, 25_00]
    assert entries(write.transaction) == [(funding.id, "DEBIT", 25_00, -25_00), (account.id, "CREDIT", 25_00, 25_00)]
    assert_ledger_ok()


def test_funding_create_is_for_system_users_only(user, account):
    with pytest.raises(NotSystemUserError):
        funding_create(initiator=user, to_account_id=account.id, amount=Decimal("25.00"), idempotency_key="fund-1")

    assert not Transaction.objects.exists()
    assert balances(account) == [0]


def test_transaction_reverse_moves_the_money_back_with_a_new_transaction(system_user, source, target):
    original = transfer(source, target, "40.00")

    write = transaction_reverse(
        initiator=system_user, transaction_id=original.id, idempotency_key="undo", reason="fraud"
    )

    reversal = write.transaction
    original.refresh_from_db()
    assert (reversal.kind, reversal.status, reversal.reverses_id, reversal.reason) == (
        "REVERSAL",
        "COMPLETED",
        original.id,
        "fraud",
    )
    assert original.status == "REVERSED"
    assert entries(reversal) == [(target.id, "DEBIT", 40_00, 0), (source.id, "CREDIT", 40_00, 100_00)]
    assert balances(source, target) == [100_00, 0]
    # Corrections are new rows: the original keeps its own two entries.
    assert LedgerEntry.objects.filter(transaction=original).count() == 2
    assert_ledger_ok()


def test_transaction_reverse_replays_its_key_and_refuses_a_second_reversal(system_user, source, target):
    original = transfer(source, target, "40.00")
    first = transaction_reverse(initiator=system_user, transaction_id=original.id, idempotency_key="undo")

    again = transaction_reverse(initiator=system_user, transaction_id=original.id, idempotency_key="undo")
    with pytest.raises(AlreadyReversedError):
        transaction_reverse(initiator=system_user, transaction_id=original.id, idempotency_key="undo-2")

    assert (again.replayed, again.transaction.id) == (True, first.transaction.id)
    assert Transaction.objects.filter(kind="REVERSAL").count() == 1
    assert balances(source, target) == [100_00, 0]


def test_a_transfer_sends_a_fixed_number_of_statements(user, source, target, django_assert_num_queries):
    assert source.owner == user  # loaded here, so the count below is the service's alone
    # Pinned so a change that adds a round trip to the hot path is seen: read both accounts;
    # SAVEPOINT (the test's own transaction makes the service's atomic a savepoint); claim the
    # key; lock both accounts; ONE statement for the transaction, both entries, both balances and
    # the outbox rows (transactions.services.POST_SQL); RELEASE SAVEPOINT.
    with django_assert_num_queries(6):
        transfer_send(source, target)
