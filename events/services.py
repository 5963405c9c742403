"""Events: one row per user who may see a change, written in the change's own database transaction
(API.md, "Events and webhooks"). So a rolled-back write leaves no event and a committed one always
has its events; verify_ledger checks both (transactions/audit.py CHECKS).

`data` is the object exactly as the API shows it to that user: the same output serializer with that
user as the viewer, so an event can never show more than GET shows them (the counterparty's balance
and another user's idempotency key stay null). Every function here that writes assumes the caller's
atomic block: call it inside the write whose change the events describe.
"""

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account
from authn.models import User
from transactions.models import Hold, Transaction

from .models import Event, EventType

ACCOUNT_STATUS_EVENTS = {
    Account.Status.FROZEN: EventType.ACCOUNT_FROZEN,
    Account.Status.ACTIVE: EventType.ACCOUNT_UNFROZEN,
    Account.Status.CLOSED: EventType.ACCOUNT_CLOSED,
}


@dataclass(frozen=True)
class EventRow:
    """An event before it is written: whose, what, and the object as that user sees it."""

    user_id: UUID
    type: str
    data: dict


def viewers(*user_ids) -> list:
    """Each user once, in the order given (an account's owner may be on both sides)."""
    return list(dict.fromkeys(user_id for user_id in user_ids if user_id is not None))


def transaction_viewers(txn: Transaction, debit: Account, credit: Account) -> list:
    """Who is told of a transaction: a decline (FAILED) only its initiator, as only the initiator
    may read it (transactions.selectors._visible_to); otherwise the owners of both sides and the
    initiator, who was shown it in the write's answer (a system user reversing others' transfer)."""
    if txn.status == Transaction.Status.FAILED:
        return [txn.initiator_id]
    return viewers(debit.owner_id, credit.owner_id, txn.initiator_id)


def hold_viewers(hold: Hold, source: Account, destination: Account, *, actor_id=None) -> list:
    """A declined hold is its creator's alone (transactions.selectors._holds_visible_to); any other
    hold is both owners', plus whoever acted on it (a system user voiding it)."""
    if hold.status == Hold.Status.FAILED:
        return [hold.initiator_id]
    return viewers(source.owner_id, destination.owner_id, actor_id)


def _views(serializer_class, instance, user_ids: Iterable):
    """(user id, `instance` as that user sees it) for each user, from ONE serializer whose viewer
    is switched between renderings. Safe because the output serializers read `context["viewer"]`
    at render time, never when their fields are bound (tests/events: the second user's event of
    one serializer must not show the first's view)."""
    serializer = _bound_serializer(serializer_class)
    for user_id in user_ids:
        serializer._context = {"viewer": User(id=user_id)}
        yield user_id, serializer.to_representation(instance)


_serializers = threading.local()


def _bound_serializer(serializer_class):
    """This thread's instance of `serializer_class`, its fields bound once and reused from request
    to request: building one deep-copies every declared field, nested ones included, which was 7 %
    of a transfer's CPU (five times rendering with it). Rendering keeps nothing on the serializer
    but the `_context` `_views` sets before each use; one per thread, as gunicorn's threads render
    at once."""
    cache = _serializers.__dict__
    if serializer_class not in cache:
        serializer = serializer_class(context={})
        serializer.fields  # noqa: B018 (binds the fields now, once)
        cache[serializer_class] = serializer
    return cache[serializer_class]


def transaction_event_rows(txn: Transaction, *, type: str, user_ids: Iterable) -> list[EventRow]:
    """`txn` as each user sees it; it must carry `entry_list` (and its idempotency claim)."""
    # The serializers are imported where used, here and below: they import DRF, whose settings
    # import authn, whose services import accounts.services, which imports this module.
    from transactions.serializers import TransactionOutputSerializer

    return [EventRow(user_id, type, data) for user_id, data in _views(TransactionOutputSerializer, txn, user_ids)]


def hold_event_rows(hold: Hold, *, type: str, user_ids: Iterable) -> list[EventRow]:
    """`hold` as each user sees it; it must carry `capture_id` (and its idempotency claim)."""
    from transactions.serializers import HoldOutputSerializer

    return [EventRow(user_id, type, data) for user_id, data in _views(HoldOutputSerializer, hold, user_ids)]


def account_event_rows(account: Account, *, type: str) -> list[EventRow]:
    """An account is only ever shown to its owner."""
    from accounts.serializers import AccountOutputSerializer

    return [EventRow(account.owner_id, type, AccountOutputSerializer(account).data)]


def batch_event_rows(*, initiator_id, batch_data: dict) -> list[EventRow]:
    """batch.completed for the batch's initiator (the only user GET shows a batch to), `batch_data`
    being the `batch` object of the batch's answer. Each of the batch's COMPLETED (or FAILED)
    transactions needs its own transaction.completed (transaction.failed) rows as well:
    transaction_event_rows with transaction_viewers, written with EVENTS_INSERT_SQL or events_record."""
    return [EventRow(initiator_id, EventType.BATCH_COMPLETED, batch_data)]


def events_record(rows: Iterable[EventRow], *, created_at=None) -> list[Event]:
    """Write the rows with the ORM: for writes off the hot path (declines, holds, accounts).
    Call inside the atomic block of the write they describe."""
    created_at = created_at or timezone.now()
    events = [Event(user_id=row.user_id, type=row.type, data=row.data, created_at=created_at) for row in rows]
    return Event.objects.bulk_create(events)


# For a set-based write's statement (the transfer's POST_SQL, a batch): one more data-modifying CTE,
# `events AS (<this>)`, fed by events_sql_params. The rows go as ONE JSON document, not as a
# jsonb[] array: psycopg escapes every quote of every element of a text array with a regular
# expression, which cost more than the rest of a 100-item batch's Python (about 0.6 ms an event).
EVENTS_INSERT_SQL = f"""
    INSERT INTO {Event._meta.db_table} (id, user_id, type, data, created_at)
    SELECT gen_random_uuid(), event.user_id, event.type, event.data, %(now)s
    FROM jsonb_to_recordset(%(events)s::jsonb) AS event (user_id uuid, type varchar, data jsonb)
"""


def events_sql_params(rows: Iterable[EventRow]) -> dict:
    """EVENTS_INSERT_SQL's document. orjson: a batch's hundreds of events are written while its
    accounts are locked, and the standard library's encoder took ten times as long."""
    return {
        "events": orjson.dumps([{"user_id": row.user_id, "type": row.type, "data": row.data} for row in rows]).decode()
    }


PURGE_SQL = """
    DELETE FROM {table} WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM {table} WHERE {column} < %s ORDER BY {column} LIMIT %s
    ))
"""


def rows_purge(*, table: str, column: str, before, batch_size: int = 5000) -> int:
    """Delete the rows of `table` whose `column` is older than `before`, `batch_size` at a time, each
    batch its own short transaction (no long lock, no giant WAL burst); returns how many. For any
    table kept EVENT_RETENTION_DAYS (events here; webhook deliveries may use it the same way).
    Needs an index on `column` to be cheap."""
    sql = PURGE_SQL.format(table=connection.ops.quote_name(table), column=connection.ops.quote_name(column))
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [before, batch_size])
            count = cursor.rowcount
        deleted += count
        if count < batch_size:
            return deleted


def events_retention_start(now=None):
    """The oldest instant still kept: events before it are purged."""
    return (now or timezone.now()) - timedelta(days=settings.EVENT_RETENTION_DAYS)


def events_purge(*, now=None, batch_size: int = 5000) -> int:
    """Delete events older than EVENT_RETENTION_DAYS; beat runs it (events.tasks.events_purge)."""
    return rows_purge(
        table=Event._meta.db_table, column="created_at", before=events_retention_start(now), batch_size=batch_size
    )
