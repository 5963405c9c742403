"""Holds raced on separate connections; after each run every ledger invariant holds.

`transactional_db` for the same reason as test_concurrency.py: the writes must commit for the
other connections to wait on them. Each test was seen to fail on a broken service
(docs/testing.md, "Holds").
"""

import random
import uuid
from datetime import timedelta
from decimal import Decimal
from functools import partial

import pytest
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Account
from tests.concurrency import run_concurrently
from tests.factories import AccountFactory, funded_account, hold, transfer
from transactions.exceptions import HoldNotPendingError
from transactions.holds import hold_capture, hold_void, holds_expire
from transactions.models import Hold, Transaction

from .state import assert_ledger_ok

pytestmark = pytest.mark.django_db(transaction=True)


def capture(held, amount=None):
    return hold_capture(
        initiator=held.initiator,
        hold_id=held.id,
        idempotency_key=f"capture-{uuid.uuid4()}",
        amount=None if amount is None else Decimal(amount),
    ).hold


def void(held):
    return hold_void(initiator=held.initiator, hold_id=held.id, idempotency_key=f"void-{uuid.uuid4()}").hold


def assert_held_exact(*accounts):
    """Each account's `held` is its PENDING holds, and its available is never negative."""
    for account in accounts:
        account.refresh_from_db()
        pending = Hold.objects.filter(from_account=account, status="PENDING").aggregate(s=Sum("amount"))["s"] or 0
        assert account.held == pending
        assert account.balance - account.held >= 0
    assert_ledger_ok()


def only_refusals(errors):
    """The errors a lost race may answer with (409 hold_not_pending); anything else is a bug."""
    return [e for e in errors if e is not None and not isinstance(e, HoldNotPendingError)]


def test_racing_captures_of_one_hold_exactly_one_wins():
    source, target = funded_account("100.00"), AccountFactory()
    held = hold(source, target, "60.00")

    results, errors = run_concurrently([partial(capture, held) for _ in range(16)], workers=16)

    assert only_refusals(errors) == []
    assert sum(r is not None for r in results) == 1
    assert Transaction.objects.filter(hold=held).count() == 1
    source.refresh_from_db()
    target.refresh_from_db()
    assert (source.balance, source.held, target.balance) == (40_00, 0, 60_00)
    assert_held_exact(source, target)


def test_capture_racing_void_has_exactly_one_outcome():
    source, target = funded_account("1000.00"), AccountFactory()
    holds = [hold(source, target, "10.00") for _ in range(20)]
    jobs = [job for held in holds for job in (partial(capture, held), partial(void, held))]

    results, errors = run_concurrently(jobs, workers=16)

    assert only_refusals(errors) == []
    for held, (captured, voided) in zip(holds, zip(results[::2], results[1::2], strict=True), strict=True):
        assert (captured is None) != (voided is None), held.id
    outcomes = list(Hold.objects.filter(id__in=[h.id for h in holds]).values_list("status", flat=True))
    captures = outcomes.count("CAPTURED")
    assert captures + outcomes.count("VOIDED") == 20
    source.refresh_from_db()
    assert (source.balance, source.held) == (1000_00 - captures * 10_00, 0)
    assert_held_exact(source, target)


def test_capture_racing_expiry_has_exactly_one_outcome():
    source, target = funded_account("1000.00"), AccountFactory()
    holds = [hold(source, target, "10.00") for _ in range(20)]
    # The sweep runs with a clock two hours on, so to it every hold is past its expiry while the
    # captures' clock says none is: both sides believe they may act, and only the hold's lock
    # (and the status it re-checks under it) decides.
    later = timezone.now() + timedelta(hours=2)
    jobs = [partial(capture, held) for held in holds] + [partial(holds_expire, now=later) for _ in range(4)]

    results, errors = run_concurrently(jobs, workers=12)

    assert only_refusals(errors) == []
    captured = sum(r is not None for r in results[:20])
    assert captured + sum(results[20:]) == 20  # each hold captured or expired, once
    statuses = list(Hold.objects.filter(id__in=[h.id for h in holds]).values_list("status", flat=True))
    assert sorted(set(statuses)) <= ["CAPTURED", "EXPIRED"] and statuses.count("CAPTURED") == captured
    source.refresh_from_db()
    assert (source.balance, source.held) == (1000_00 - captured * 10_00, 0)
    assert_held_exact(source, target)


def test_racing_holds_never_over_commit_an_account():
    source, target = funded_account("100.00"), AccountFactory()

    jobs = [partial(hold, source, target, "10.00") for _ in range(50)]
    results, errors = run_concurrently(jobs, workers=50)

    assert errors == [None] * 50
    statuses = [h.status for h in results]
    assert (statuses.count("PENDING"), statuses.count("FAILED")) == (10, 40)
    source.refresh_from_db()
    assert (source.balance, source.held) == (100_00, 100_00)
    assert_held_exact(source, target)


def test_transfers_and_holds_interleaved_never_make_available_negative():
    rng = random.Random(20261202)
    accounts = [funded_account("500.00") for _ in range(6)]
    holds = [hold(*rng.sample(accounts, 2), "40.00") for _ in range(12)]

    def amount():
        return f"{rng.randint(1, 9000) / 100:.2f}"

    jobs = []
    for i in range(400):
        source, target = rng.sample(accounts, 2)
        kind = i % 4
        if kind == 0:
            jobs.append(partial(transfer, source, target, amount()))
        elif kind == 1:
            jobs.append(partial(hold, source, target, amount()))
        elif kind == 2:
            jobs.append(partial(capture, rng.choice(holds), "25.00"))
        else:
            jobs.append(partial(void, rng.choice(holds)))
    results, errors = run_concurrently(jobs, workers=12)

    assert only_refusals(errors) == []
    assert all(r is not None for r, e in zip(results, errors, strict=True) if e is None)
    total = Account.objects.filter(is_system=False).aggregate(s=Sum("balance"))["s"]
    assert total == 6 * 500_00
    assert_held_exact(*accounts)
