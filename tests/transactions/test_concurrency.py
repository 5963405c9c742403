"""Concurrent transfers on separate connections; after each run every ledger invariant holds.

These need `transactional_db`: the writes must really commit for other connections to see (and
wait on) them. Each was seen to fail on a deliberately broken service (docs/testing.md).
"""

import random
from functools import partial

import pytest

from accounts.models import Account
from tests.concurrency import run_concurrently
from tests.factories import AccountFactory, funded_account, transfer
from transactions.models import IdempotencyKey, LedgerEntry, Transaction

from .state import assert_ledger_ok

pytestmark = pytest.mark.django_db(transaction=True)


def test_overdraft_race_lets_exactly_the_covered_transfers_through():
    source = funded_account("100.00")
    target = AccountFactory()

    jobs = [partial(transfer, source, target, "10.00", f"race-{i}") for i in range(50)]
    results, errors = run_concurrently(jobs, workers=50)

    assert errors == [None] * 50
    statuses = [txn.status for txn in results]
    assert statuses.count(Transaction.Status.COMPLETED) == 10
    assert statuses.count(Transaction.Status.FAILED) == 40
    source.refresh_from_db()
    target.refresh_from_db()
    assert (source.balance, target.balance) == (0, 100_00)
    assert_ledger_ok()


def test_opposite_directions_never_deadlock():
    a = funded_account("1000.00")
    b = funded_account("1000.00", owner=a.owner)

    # 1,000 transfers of 1.00 each way: neither side can run short whatever the interleaving,
    # so every one must complete; a deadlock would surface as an error.
    jobs = [
        partial(transfer, a, b, "1.00", f"ab-{i}") if i % 2 == 0 else partial(transfer, b, a, "1.00", f"ba-{i}")
        for i in range(2000)
    ]
    results, errors = run_concurrently(jobs, workers=32)

    assert [e for e in errors if e is not None] == []
    assert all(txn.status == Transaction.Status.COMPLETED for txn in results)
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.balance, b.balance) == (1000_00, 1000_00)
    for account in (a, b):
        newest = LedgerEntry.objects.filter(account=account).order_by("-id").first()
        assert newest.balance_after == account.balance
        assert LedgerEntry.objects.filter(account=account).count() == 1 + 2000
    assert_ledger_ok()


def test_bank_invariant_holds_under_random_transfers():
    rng = random.Random(20261121)
    accounts = [funded_account("1000.00") for _ in range(50)]
    total_before = sum(Account.objects.filter(is_system=False).values_list("balance", flat=True))

    jobs = []
    for i in range(5000):
        source, target = rng.sample(accounts, 2)
        amount = f"{rng.randint(1, 30000) / 100:.2f}"
        jobs.append(partial(transfer, source, target, amount, f"bank-{i}"))
    results, errors = run_concurrently(jobs, workers=16)

    assert [e for e in errors if e is not None] == []
    balances = list(Account.objects.filter(is_system=False).values_list("balance", flat=True))
    assert sum(balances) == total_before == 50 * 1000_00
    assert min(balances) >= 0
    completed = [txn for txn in results if txn.status == Transaction.Status.COMPLETED]
    assert completed, "some transfers must have gone through"
    for txn in Transaction.objects.filter(kind=Transaction.Kind.TRANSFER).prefetch_related("entries"):
        sides = sorted((e.type, e.amount, e.account_id) for e in txn.entries.all())
        if txn.status == Transaction.Status.COMPLETED:
            assert sides == [("CREDIT", txn.amount, txn.to_account_id), ("DEBIT", txn.amount, txn.from_account_id)]
        else:
            assert sides == []
    assert_ledger_ok()


def test_concurrent_requests_with_one_key_make_one_transaction():
    source = funded_account("100.00")
    target = AccountFactory()

    jobs = [partial(transfer, source, target, "10.00", "the-same-key") for _ in range(20)]
    results, errors = run_concurrently(jobs, workers=20)

    assert errors == [None] * 20
    assert len({txn.id for txn in results}) == 1
    assert Transaction.objects.filter(kind=Transaction.Kind.TRANSFER).count() == 1
    assert IdempotencyKey.objects.filter(key="the-same-key").count() == 1
    source.refresh_from_db()
    assert source.balance == 90_00
    assert_ledger_ok()
