"""Batches racing each other and single transfers on separate connections (docs/testing.md,
"Batches"): no deadlock, no lost update, and every ledger invariant after the run."""

import random
from decimal import Decimal
from functools import partial

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import Account
from tests.concurrency import run_concurrently
from tests.factories import UserFactory, funded_account, transfer
from transactions.audit import ledger_verify
from transactions.batches import BatchItem, batch_create
from transactions.models import Batch, Transaction

from .state import assert_ledger_ok

pytestmark = pytest.mark.django_db(transaction=True)


def _batch(owner, items, key, atomic):
    return batch_create(initiator=owner, items=items, atomic=atomic, idempotency_key=key)


def test_racing_batches_over_overlapping_accounts_never_deadlock_and_keep_every_invariant():
    rng = random.Random(20261206)
    owners = [UserFactory() for _ in range(4)]
    accounts = [funded_account("300.00", owner=owners[i % 4]) for i in range(12)]
    total = sum(Account.objects.filter(is_system=False).values_list("balance", flat=True))

    jobs = []
    for n in range(20):
        owner = owners[n % 4]
        own = [account for account in accounts if account.owner_id == owner.id]
        items = []
        for _ in range(25):
            # Random pairs in random order: batches lock overlapping sets in every direction.
            source, target = rng.choice(own), rng.choice([a for a in accounts if a.id != own[0].id] + own[1:])
            if source.id == target.id:
                target = own[0] if source.id != own[0].id else own[1]
            items.append(BatchItem(source.id, target.id, Decimal(rng.choice(["10.00", "25.50", "80.00"]))))
        jobs.append(partial(_batch, owner, items, f"race-{n}", atomic=n % 2 == 0))
    # Single transfers too, against the same rows.
    for n in range(20):
        source, target = rng.sample(accounts, 2)
        jobs.append(partial(transfer, source, target, "5.00", f"single-{n}"))
    results, errors = run_concurrently(jobs, workers=20)

    assert [e for e in errors if e is not None] == []
    balances = list(Account.objects.filter(is_system=False).values_list("balance", flat=True))
    assert sum(balances) == total
    assert min(balances) >= 0
    assert Batch.objects.count() == 20
    statuses = {result.status for result in results[:20]}
    assert statuses <= {200, 201, 422}
    assert Transaction.objects.filter(batch__isnull=False, status="COMPLETED").exists()
    assert_ledger_ok()


def test_verify_ledger_finds_a_batch_missing_an_item():
    owner = UserFactory()
    a, b = funded_account("10.00", owner=owner), funded_account("10.00", owner=owner)
    write = _batch(
        owner, [BatchItem(a.id, b.id, Decimal("1.00")), BatchItem(b.id, a.id, Decimal("1.00"))], "k", atomic=True
    )
    assert ledger_verify().ok

    # Going around the service: a batch that says it has one more item than it holds.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE transactions_batch SET count = 3 WHERE id = %s", [write.batch_id])

    report = ledger_verify()
    assert list(report.violations) == [next(name for name in report.violations if name.startswith("a batch has"))]
    assert report.violations[next(iter(report.violations))] == [str(write.batch_id)]


def test_the_database_refuses_an_item_without_a_batch_or_with_a_key_too():
    owner = UserFactory()
    a, b = funded_account("10.00", owner=owner), funded_account("10.00", owner=owner)
    write = _batch(owner, [BatchItem(a.id, b.id, Decimal("1.00"))], "k", atomic=True)
    item = Transaction.objects.get(batch_id=write.batch_id)

    with pytest.raises(IntegrityError), transaction.atomic():
        Transaction.objects.filter(id=item.id).update(batch=None)
    other = transfer(a, b, "1.00", "single")
    with pytest.raises(IntegrityError), transaction.atomic():
        Transaction.objects.filter(id=other.id).update(batch_id=write.batch_id)
