"""The hold services called directly: what each writes, refuses, replays and releases, and the
database guards and verify_ledger checks behind them."""

import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from accounts.exceptions import AccountHasOpenHoldsError
from accounts.models import Account
from accounts.services import account_close, account_freeze
from tests.factories import AccountFactory, SystemUserFactory, funded_account, hold, transfer
from transactions import tasks
from transactions.audit import ledger_verify
from transactions.exceptions import (
    AccountInactiveError,
    CaptureExceedsHoldError,
    HoldNotFoundError,
    HoldNotPendingError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
)
from transactions.holds import hold_capture, hold_create, hold_void, holds_expire
from transactions.models import Hold, IdempotencyKey, Transaction

from .state import assert_ledger_ok, outbox_mark, outbox_since

pytestmark = pytest.mark.django_db


def money(account):
    """(balance, held) read fresh."""
    fresh = Account.objects.get(id=account.id)
    return fresh.balance, fresh.held


def capture(hold_, amount=None, key="capture-1", by=None):
    return hold_capture(
        initiator=by or hold_.initiator,
        hold_id=hold_.id,
        idempotency_key=key,
        amount=None if amount is None else Decimal(amount),
    )


def void(hold_, key="void-1", by=None):
    return hold_void(initiator=by or hold_.initiator, hold_id=hold_.id, idempotency_key=key)


# --- create ---------------------------------------------------------------------------------


def test_hold_create_reserves_without_moving_money(source, target):
    mark = outbox_mark()

    write = hold_create(
        initiator=source.owner,
        from_account_id=source.id,
        to_account_id=target.id,
        amount=Decimal("30.00"),
        idempotency_key="auth-1",
        expires_in=3600,
    )

    held = write.hold
    assert (write.replayed, held.status, held.amount, held.failure_reason) == (False, "PENDING", 30_00, "")
    assert money(source) == (100_00, 30_00) and money(target) == (0, 0)
    assert [a.available for a in write.accounts] == [70_00, 0]
    assert not Transaction.objects.filter(kind="TRANSFER").exists()
    (email,) = outbox_since(mark)
    assert email.to == source.owner.email and "30.00 INR is held" in email.body
    assert_ledger_ok()


def test_a_hold_counts_against_later_transfers_and_holds(source, target):
    hold(source, target, "80.00")

    assert transfer(source, target, "20.01").failure_reason == InsufficientFundsError.code
    declined = hold(source, target, "20.01")
    assert transfer(source, target, "20.00").status == "COMPLETED"

    assert (declined.status, declined.failure_reason) == ("FAILED", InsufficientFundsError.code)
    assert money(source) == (80_00, 80_00)
    assert_ledger_ok()


def test_hold_create_replays_and_refuses_a_reused_key(source, target):
    first = hold(source, target, "10.00", key="k")

    again = hold_create(
        initiator=source.owner,
        from_account_id=source.id,
        to_account_id=target.id,
        amount=Decimal("10.00"),
        idempotency_key="k",
        expires_in=3600,
    )
    with pytest.raises(IdempotencyKeyReusedError):
        hold(source, target, "11.00", key="k")
    with pytest.raises(IdempotencyKeyReusedError):
        transfer(source, target, "10.00", key="k")

    assert (again.replayed, again.hold.id) == (True, first.id)
    assert money(source) == (100_00, 10_00)


def test_a_frozen_side_declines_a_new_hold(source, target):
    account_freeze(account_id=target.id)

    declined = hold(source, target, "1.00")

    assert (declined.status, declined.failure_reason) == ("FAILED", AccountInactiveError.code)
    assert money(source) == (100_00, 0)


# --- capture --------------------------------------------------------------------------------


def test_capture_moves_the_amount_as_a_transfer_linked_to_the_hold(source, target):
    held = hold(source, target, "30.00")
    mark = outbox_mark()

    write = capture(held)

    txn = write.transaction
    assert (txn.kind, txn.status, txn.amount, txn.hold_id) == ("TRANSFER", "COMPLETED", 30_00, held.id)
    assert (write.hold.status, write.hold.captured_amount) == ("CAPTURED", 30_00)
    assert money(source) == (70_00, 0) and money(target) == (30_00, 0)
    assert sorted(row.to for row in outbox_since(mark)) == sorted([source.owner.email, target.owner.email])
    assert_ledger_ok()


def test_a_partial_capture_releases_the_rest(source, target):
    held = hold(source, target, "30.00")

    capture(held, "12.50")

    assert money(source) == (87_50, 0) and money(target) == (12_50, 0)
    assert Hold.objects.get(id=held.id).captured_amount == 12_50
    assert_ledger_ok()


def test_capture_never_exceeds_the_hold(source, target):
    held = hold(source, target, "30.00")

    with pytest.raises(CaptureExceedsHoldError):
        capture(held, "30.01")

    assert money(source) == (100_00, 30_00)
    assert not IdempotencyKey.objects.filter(key="capture-1").exists()


def test_a_hold_is_captured_once_and_the_capture_replays(source, target):
    held = hold(source, target, "30.00")
    first = capture(held)

    again = capture(held)
    with pytest.raises(HoldNotPendingError) as refused:
        capture(held, key="capture-2")
    with pytest.raises(HoldNotPendingError):
        void(held)

    assert (again.replayed, again.transaction.id) == (True, first.transaction.id)
    assert refused.value.extra["details"] == {"status": "CAPTURED"}
    assert Transaction.objects.filter(hold=held).count() == 1
    assert money(source) == (70_00, 0)


def test_the_destinations_owner_may_capture_others_may_not(source, target):
    held = hold(source, target, "30.00")
    stranger, system = AccountFactory().owner, SystemUserFactory()

    for outsider in (stranger, system):
        with pytest.raises(HoldNotFoundError):
            capture(held, by=outsider)
    write = capture(held, by=target.owner)

    assert write.transaction.initiator == target.owner
    assert_ledger_ok()


def test_a_frozen_side_refuses_capture_but_not_void(source, target):
    held = hold(source, target, "30.00")
    account_freeze(account_id=source.id)

    with pytest.raises(AccountInactiveError) as refused:
        capture(held)
    write = void(held)

    assert refused.value.extra["details"] == {"accountId": str(source.id), "status": "FROZEN"}
    assert write.hold.status == "VOIDED"
    assert money(source) == (100_00, 0)


# --- void and expiry ------------------------------------------------------------------------


def test_void_releases_the_whole_amount_and_replays(source, target):
    held = hold(source, target, "30.00")

    first = void(held)
    again = void(held)

    assert (first.hold.status, again.replayed, again.hold.id) == ("VOIDED", True, held.id)
    assert money(source) == (100_00, 0)
    with pytest.raises(HoldNotPendingError):
        capture(held)
    assert_ledger_ok()


def test_who_may_void(source, target):
    holds = [hold(source, target, "1.00") for _ in range(3)]
    stranger, system = AccountFactory().owner, SystemUserFactory()

    with pytest.raises(HoldNotFoundError):
        void(holds[0], by=stranger)
    for held, voider in zip(holds, [source.owner, target.owner, system], strict=True):
        assert void(held, by=voider).hold.status == "VOIDED"

    assert money(source) == (100_00, 0)


def test_an_expired_hold_counts_for_nothing_before_it_is_swept(source, target):
    held = hold(source, target, "90.00", expires_in=0)

    with pytest.raises(HoldNotPendingError) as refused:
        capture(held)
    spent = transfer(source, target, "50.00")

    assert refused.value.extra["details"] == {"status": "EXPIRED"}
    assert spent.status == "COMPLETED"
    # The funds check released the expired hold it needed, under the account's lock.
    assert Hold.objects.get(id=held.id).status == "EXPIRED"
    assert money(source) == (50_00, 0)
    assert_ledger_ok()


def test_holds_expire_releases_exactly_the_expired_and_may_run_twice(source, target):
    expired = hold(source, target, "10.00", expires_in=1)
    live = hold(source, target, "20.00", expires_in=3600)
    time.sleep(1.1)

    assert holds_expire() == 1
    assert holds_expire() == 0

    assert [Hold.objects.get(id=h.id).status for h in (expired, live)] == ["EXPIRED", "PENDING"]
    assert money(source) == (100_00, 20_00)
    assert_ledger_ok()


# --- accounts -------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["source", "target"])
def test_an_account_with_a_pending_hold_cannot_close(user, other_user, side):
    source = funded_account("10.00", owner=user)
    target = AccountFactory(owner=other_user)
    held = hold(source, target, "10.00")
    closing = source if side == "source" else target

    with pytest.raises(AccountHasOpenHoldsError):
        account_close(account_id=closing.id)

    void(held)
    if side == "source":
        transfer(source, AccountFactory(owner=user), "10.00")
    assert account_close(account_id=closing.id).status == "CLOSED"


# --- the database's guards and verify_ledger ------------------------------------------------


def violation(sql, params):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_the_database_refuses_a_negative_held_or_available(source, target):
    hold(source, target, "30.00")

    violation("UPDATE accounts_account SET held = -1 WHERE id = %s", [source.id])
    violation("UPDATE accounts_account SET held = balance + 1 WHERE id = %s", [source.id])
    Account.objects.filter(id=source.id).update(held=100_00)  # balance − held = 0 is allowed

    report = ledger_verify()
    assert list(report.violations) == ["account held equals its PENDING holds"]


def test_the_database_refuses_rewriting_a_hold_or_capturing_it_twice(source, target):
    held = hold(source, target, "30.00")
    captured = capture(held).transaction

    violation("UPDATE transactions_hold SET amount = 1 WHERE id = %s", [held.id])
    violation("UPDATE transactions_hold SET status = 'PENDING', captured_amount = NULL WHERE id = %s", [held.id])
    violation("UPDATE transactions_hold SET captured_amount = amount + 1 WHERE id = %s", [held.id])
    violation("DELETE FROM transactions_hold WHERE id = %s", [held.id])
    violation(
        "UPDATE transactions_transaction SET hold_id = %s WHERE id = %s",
        [held.id, transfer(source, target, "1.00").id],
    )
    assert captured.hold_id == held.id
    assert_ledger_ok()


def test_verify_ledger_finds_a_captured_hold_without_its_transaction(source, target):
    held = hold(source, target, "30.00")
    # Around the service and its accounting: the hold says CAPTURED, nothing moved.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE transactions_hold SET status = 'CAPTURED', captured_amount = amount WHERE id = %s", [held.id]
        )
        cursor.execute("UPDATE accounts_account SET held = 0 WHERE id = %s", [source.id])

    report = ledger_verify()

    assert list(report.violations) == [
        "a CAPTURED hold has its capture, of its captured amount, no more than it held; no other hold has one"
    ]
    assert report.violations[list(report.violations)[0]] == [str(held.id)]


def test_beat_runs_the_expiry_sweep(source, target):
    hold(source, target, "10.00", expires_in=0)

    assert settings.CELERY_BEAT_SCHEDULE["expire-holds"]["task"] == tasks.holds_expire.name
    assert tasks.holds_expire() == 1
    assert money(source) == (100_00, 0)
