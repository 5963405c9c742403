"""Usage limits raced on separate connections (API.md, "Limits and simple fraud rules"): the
usage row is read and updated under the account's lock, so racing writes cannot all see room.
Each test was seen to fail on a broken service (docs/testing.md, "Limits")."""

import uuid
from functools import partial

import pytest

from accounts.models import AccountUsage
from accounts.services import account_limits_set
from tests.concurrency import run_concurrently
from tests.factories import AccountFactory, funded_account, hold, transfer
from transactions.holds import hold_void
from transactions.models import Hold, Transaction

from .state import assert_ledger_ok

pytestmark = pytest.mark.django_db(transaction=True)


def usage(account):
    return {row.window: (row.amount, row.count) for row in AccountUsage.objects.filter(account=account)}


def test_racing_transfers_against_a_daily_limit_admit_exactly_what_it_allows():
    source = funded_account("1000.00")
    target = AccountFactory()
    account_limits_set(account_id=source.id, changes={"daily_debit_amount": "70.00"})

    jobs = [partial(transfer, source, target, "10.00", f"race-{i}") for i in range(50)]
    results, errors = run_concurrently(jobs, workers=50)

    assert errors == [None] * 50
    statuses = [txn.status for txn in results]
    assert statuses.count(Transaction.Status.COMPLETED) == 7
    assert {txn.failure_reason for txn in results if txn.status == "FAILED"} == {"limit_exceeded"}
    assert usage(source) == {"DAY": (70_00, 7), "MONTH": (70_00, 7)}
    assert_ledger_ok()


def test_racing_holds_and_voids_give_usage_back_exactly():
    source = funded_account("1000.00")
    target = AccountFactory()
    account_limits_set(account_id=source.id, changes={"daily_debit_count": 20})
    first = [hold(source, target, "5.00", f"first-{i}") for i in range(10)]

    def void(held):
        return hold_void(initiator=held.initiator, hold_id=held.id, idempotency_key=f"void-{uuid.uuid4()}")

    # 10 voids give 10 back while 30 new holds race for the 10 left + what comes back.
    jobs = [partial(void, held) for held in first] + [
        partial(hold, source, target, "1.00", f"more-{i}") for i in range(30)
    ]
    results, errors = run_concurrently(jobs, workers=40)

    assert errors == [None] * 40
    pending = Hold.objects.filter(from_account=source, status="PENDING")
    assert 10 <= pending.count() <= 20
    amount = sum(h.amount for h in pending)
    assert usage(source) == {"DAY": (amount, pending.count()), "MONTH": (amount, pending.count())}
    for held in pending:
        hold_void(initiator=held.initiator, hold_id=held.id, idempotency_key=f"end-{held.id}")
    assert usage(source) == {"DAY": (0, 0), "MONTH": (0, 0)}
    assert_ledger_ok()
