"""verify_ledger's event checks (each completed, failed and reversed transaction in the retention
window has its events; no event without its change) and the retention purge."""

import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from events import tasks
from events.models import Event
from events.services import events_purge, events_retention_start
from ledger_project.celery import app
from tests.factories import AccountFactory, SystemUserFactory, funded_account, hold, transfer
from transactions.audit import ledger_verify
from transactions.services import transaction_reverse

pytestmark = pytest.mark.django_db

HAS_EVENTS = "each completed, failed and reversed transaction, and each written batch (in the event retention window), has its events"
NO_ORPHANS = "no event without its change: each event's object exists, in its state, and its user may see it"


@pytest.fixture
def ledger():
    """One of each: a completed transfer, a decline, a reversal, a hold."""
    source = funded_account("100.00")
    target = AccountFactory()
    completed = transfer(source, target, "10.00")
    failed = transfer(source, target, "1000.00")
    reversed_one = transfer(source, target, "5.00")
    transaction_reverse(initiator=SystemUserFactory(), transaction_id=reversed_one.id, idempotency_key="r")
    hold(source, target, "1.00")
    return {"completed": completed, "failed": failed, "reversed": reversed_one, "target": target}


def test_a_ledger_written_through_the_services_checks_out(ledger):
    report = ledger_verify()

    assert report.ok, report.summary()


@pytest.mark.parametrize(
    ("which", "type"),
    [
        ("completed", "transaction.completed"),
        ("failed", "transaction.failed"),
        ("reversed", "transaction.reversed"),
        ("reversed", "transaction.completed"),
    ],
)
def test_a_transaction_missing_one_of_its_events_is_a_violation(ledger, which, type):
    txn = ledger[which]
    # Only the target's event where there is one: one user's missing event is enough.
    events = Event.objects.filter(type=type, data__id=str(txn.id))
    if type != "transaction.failed":
        events = events.filter(user=ledger["target"].owner)
    assert events.delete()[0] == 1

    report = ledger_verify()

    assert report.violations == {HAS_EVENTS: [str(txn.id)]}


def test_transactions_older_than_the_retention_window_need_no_events(ledger, monkeypatch):
    Event.objects.all().delete()
    later = timezone.now() + timedelta(days=settings.EVENT_RETENTION_DAYS, hours=2)
    monkeypatch.setattr(timezone, "now", lambda: later)

    report = ledger_verify()

    assert report.ok, report.summary()


@pytest.mark.parametrize(
    "forge",
    [
        # An event of a change that never committed (a transaction id nobody wrote).
        lambda ledger: {"type": "transaction.completed", "data": {"id": str(uuid.uuid4())}},
        # A status the object does not have.
        lambda ledger: {"type": "transaction.reversed", "data": {"id": str(ledger["completed"].id)}},
        lambda ledger: {"type": "transaction.failed", "data": {"id": str(ledger["completed"].id)}},
        lambda ledger: {"type": "hold.captured", "data": {"id": str(uuid.uuid4())}},
        lambda ledger: {"type": "account.frozen", "data": {"id": str(uuid.uuid4())}},
    ],
)
def test_an_event_without_its_change_is_a_violation(ledger, forge):
    event = Event.objects.create(user=ledger["target"].owner, **forge(ledger))

    report = ledger_verify()

    assert report.violations == {NO_ORPHANS: [str(event.id)]}


def test_an_event_given_to_a_user_who_may_not_see_it_is_a_violation(ledger):
    stranger = AccountFactory().owner
    event = Event.objects.filter(type="transaction.completed", data__id=str(ledger["completed"].id)).first()
    Event.objects.filter(id=event.id).update(user=stranger)

    report = ledger_verify()

    assert NO_ORPHANS in report.violations and str(event.id) in report.violations[NO_ORPHANS]


def test_the_purge_deletes_only_events_past_the_retention_window_in_batches(db):
    owner = AccountFactory().owner
    now = timezone.now()
    old = [
        Event.objects.create(
            user=owner,
            type="account.created",
            data={},
            created_at=events_retention_start(now) - timedelta(minutes=i + 1),
        )
        for i in range(5)
    ]
    kept = Event.objects.create(user=owner, type="account.created", data={}, created_at=now - timedelta(days=1))

    statements = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        assert events_purge(now=now, batch_size=2) == 5

    assert list(Event.objects.values_list("id", flat=True)) == [kept.id]
    assert sum("DELETE" in sql for sql in statements) == 3  # 2 + 2 + 1
    assert not Event.objects.filter(id__in=[e.id for e in old]).exists()


def test_the_purge_is_scheduled_on_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["purge-old-events"]

    assert entry["task"] == "events.tasks.events_purge" and entry["task"] in app.tasks
    assert tasks.events_purge() == 0
