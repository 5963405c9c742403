"""Batches: up to BATCH_MAX_TRANSFERS transfers in one request and one database transaction.

The transfer's discipline (transactions/services.py), once for the whole batch:
1. outside the transaction, validate every item and resolve every account in one query
   (ownership, no funding accounts, one currency and two distinct accounts per item); any bad
   item is a 400 naming it (`transfers[3].amount`) and nothing runs;
2. inside it: claim the batch's idempotency key, lock every account involved once, in primary
   key order (LOCK_SQL, as a transfer does for two), then judge the items in order on the locked
   rows in memory (each sees the balances, usage and limits the ones before it left), and write
   the outcome set-based: the batch, its transactions, their entries, the balances, usage and
   outbox rows in ONE statement (BATCH_POST_SQL), however many items there are.

Nothing is written item by item, so a declined item needs no savepoint to leave nothing behind:
in a non-atomic batch it is a FAILED transaction (as every decline is) and the items after it
see the rows as they were before it; in an atomic batch the first decline stops the judging and
only the batch row is written, with its 422 answer, replayed for its key.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework import serializers

from accounts.models import Account, AccountUsage
from accounts.money import format_minor, to_minor
from authn.models import User
from events.models import EventType
from events.services import EVENTS_INSERT_SQL, EventRow, batch_event_rows, events_sql_params, viewers
from ledger_project.db_retry import claim_is_own, db_retry
from ledger_project.exceptions import InvalidInputError
from ledger_project.metadata import metadata_fingerprint
from notifications.emails import OUTBOX_INSERT_SQL, Email, batch_emails, outbox_sql_params

from . import serializers as s
from .declines import balances_json, decline_details
from .exceptions import (
    DECLINES,
    BatchDeclinedError,
    CurrencyMismatchError,
    IdempotencyKeyReusedError,
    InvalidAccountError,
    SameAccountError,
)
from .models import Batch, IdempotencyKey, LedgerEntry, Transaction
from .services import _decline_reason, _idempotency_claim, _lock_accounts, idempotency_fingerprint
from .usage import DAY, MONTH, has_window_limit, usage_read_many

Kind, Status = Transaction.Kind, Transaction.Status
BATCH = "BATCH"  # what a key was used for (its fingerprint's head)
ATOMIC_COMPLETED = "Batch completed successfully"
NON_ATOMIC_DONE = "Batch processed"


@dataclass(frozen=True)
class BatchItem:
    """One transfer of a batch request, as validated (amount still in major units)."""

    from_account_id: uuid.UUID
    to_account_id: uuid.UUID
    amount: Decimal
    reference: str | None = None
    metadata: dict | None = None


@dataclass(frozen=True)
class BatchWrite:
    """A batch's answer: its HTTP status and body (stored with it for replays), and whether this
    request replayed it."""

    batch_id: uuid.UUID
    status: int
    body: dict
    replayed: bool


@db_retry
def batch_create(*, initiator: User, items: list[BatchItem], atomic: bool, idempotency_key: str) -> BatchWrite:
    """Apply `items` in order as the initiator's transfers: all or nothing when `atomic`, each on
    its own otherwise. Returns the answer to give (201/200, or an atomic decline's 422)."""
    resolved = _batch_resolve(initiator=initiator, items=items)
    amounts = [_item_minor_units(index, item, resolved) for index, item in enumerate(items)]
    fingerprint = _batch_fingerprint(items, amounts, atomic)
    with transaction.atomic():
        claim = _idempotency_claim(initiator=initiator, key=idempotency_key, fingerprint=fingerprint)
        if claim is None:
            return _batch_replay(initiator=initiator, key=idempotency_key, fingerprint=fingerprint)
        _batch_lock_timeout()
        locked = _lock_accounts(*resolved)
        now = timezone.now()
        # Usage windows are read once for every debited account that keeps them (one statement).
        limited = {locked[item.from_account_id] for item in items if has_window_limit(locked[item.from_account_id])}
        if limited:
            usage_read_many(list(limited), now)
        plan = _batch_judge(initiator=initiator, items=items, amounts=amounts, locked=locked, atomic=atomic)
        batch = Batch(
            id=uuid.uuid4(),
            initiator=initiator,
            idempotency=claim,
            atomic=atomic,
            count=len(items),
            created_at=now,
        )
        status, body = _batch_answer(batch, plan, locked=locked, viewer=initiator, now=now)
        batch.response_status, batch.response = status, body
        owner_emails = {account.owner_id: account.owner_email for account in resolved.values()}
        emails = batch_emails(batch_id=batch.id, moves=plan.moves, owner_emails=owner_emails) if plan.written else []
        events = _batch_event_rows(batch, plan)
        _batch_post(batch, plan, locked=locked, emails=emails, events=events, now=now)
    return BatchWrite(batch.id, status, body, False)


def _batch_event_rows(batch: Batch, plan: "BatchPlan") -> list[EventRow]:
    """Each item's transaction.completed (transaction.failed) for every user who may see it, as that
    user sees it (events.services.transaction_viewers' rule), and batch.completed for the
    initiator. None for an atomic decline: it changed nothing. Call inside the atomic block of
    `batch_create`, after `_batch_answer` (whose views of the items it reuses)."""
    if not plan.written:
        return []
    initiator_id, rows = batch.initiator.id, []
    for item in plan.items:
        if item.failure:
            rows.append(EventRow(initiator_id, EventType.TRANSACTION_FAILED, item.view))
            continue
        for user_id in viewers(item.debit.owner_id, item.credit.owner_id, initiator_id):
            view = item.view if user_id == initiator_id else _counterparty_view(item)
            rows.append(EventRow(user_id, EventType.TRANSACTION_COMPLETED, view))
    return rows + batch_event_rows(initiator_id=initiator_id, batch_data=batch.response["batch"])


def _counterparty_view(item: "ItemOutcome") -> dict:
    """A completed item as the credited account's owner sees it, when that is not the initiator
    (the debited account is always the initiator's): the initiator's view without the initiator's
    labels, and the balance after it on the owner's own side only. Derived rather than rendered
    again: rendering was a third of a batch's Python time."""
    debit_entry, credit_entry = item.view["entries"]
    return {
        **item.view,
        "metadata": None,
        "entries": [
            {**debit_entry, "balanceAfter": None},
            {**credit_entry, "balanceAfter": format_minor(item.credit_after, item.currency)},
        ],
    }


def _batch_lock_timeout() -> None:
    """This transaction's lock wait: BATCH_LOCK_TIMEOUT_MS, not a transfer's DB_LOCK_TIMEOUT_MS.
    A batch locks many accounts and holds them while it writes, so under load batches that share
    an account queue longer than a transfer behind a transfer (measured: 503s at 16 clients with
    the 1 s default). Call inside the atomic block of `batch_create`, before the locks."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{settings.BATCH_LOCK_TIMEOUT_MS}ms"])


class ResolvedAccount(NamedTuple):
    """What a batch checks of an account before any lock (what never changes of it) and its
    owner's address for the summary email. A plain row, not an Account: building the model
    instances (their timestamps and metadata parsed) was a fifth of a 100-item batch's Python,
    and the lock loads the accounts again anyway."""

    id: uuid.UUID
    owner_id: uuid.UUID
    is_system: bool
    currency: str
    owner_email: str


BATCH_RESOLVE_SQL = f"""
    SELECT account.id, account.owner_id, account.is_system, account.currency, owner.email
    FROM {Account._meta.db_table} AS account JOIN {User._meta.db_table} AS owner ON owner.id = account.owner_id
    WHERE account.id = ANY(%b)
"""


def _batch_resolve(*, initiator: User, items: list[BatchItem]) -> dict[uuid.UUID, ResolvedAccount]:
    """Every account of the batch, with its owner, in one query before any lock; any bad item is
    a 400 naming its field (the messages are a single transfer's)."""
    ids = {item.from_account_id for item in items} | {item.to_account_id for item in items}
    with connection.cursor() as cursor:
        cursor.execute(BATCH_RESOLVE_SQL, [list(ids)])
        rows = cursor.fetchall()
    accounts = {row[0]: ResolvedAccount(*row) for row in rows}
    for index, item in enumerate(items):
        source, target = accounts.get(item.from_account_id), accounts.get(item.to_account_id)
        if source is None or source.owner_id != initiator.id or source.is_system:
            raise InvalidAccountError(errors={f"transfers[{index}].fromAccount": [InvalidAccountError.message]})
        if target is None or target.is_system:
            raise InvalidAccountError(errors={f"transfers[{index}].toAccount": [InvalidAccountError.message]})
        if source.id == target.id:
            raise SameAccountError(errors={f"transfers[{index}].toAccount": [SameAccountError.message]})
        if source.currency != target.currency:
            raise CurrencyMismatchError(errors={f"transfers[{index}].toAccount": [CurrencyMismatchError.message]})
    return accounts


def _item_minor_units(index: int, item: BatchItem, accounts: dict) -> int:
    try:
        return to_minor(item.amount, accounts[item.from_account_id].currency)
    except ValueError as exc:
        raise InvalidInputError(errors={f"transfers[{index}].amount": [str(exc)]}) from exc


def _batch_fingerprint(items, amounts, atomic) -> str:
    """A digest of the whole request (order, accounts, amounts, references, mode): a key's
    fingerprint column holds 255 characters, a batch's text would not fit."""
    text = json.dumps(
        [
            atomic,
            [
                # An item's metadata only where it has some: the fingerprints of batches without
                # any stay what they were.
                [str(i.from_account_id), str(i.to_account_id), a, i.reference, *metadata_fingerprint(i.metadata)]
                for i, a in zip(items, amounts, strict=True)
            ],
        ]
    )
    return idempotency_fingerprint(BATCH, hashlib.sha256(text.encode()).hexdigest())


def _batch_replay(*, initiator, key, fingerprint) -> BatchWrite:
    claim = IdempotencyKey.objects.filter(initiator=initiator, key=key).select_related("batch").first()
    batch = getattr(claim, "batch", None) if claim else None
    if batch is None or claim.fingerprint != fingerprint:
        raise IdempotencyKeyReusedError()
    # A lost connection's retry (db_retry) that finds its own committed batch answers as the write.
    return BatchWrite(batch.id, batch.response_status, batch.response, not claim_is_own(claim.id))


@dataclass(slots=True)
class ItemOutcome:
    """One judged item: the transaction it is written as (COMPLETED, or FAILED with its decline's
    code and details), with each side's balance right after it. Plain data rather than a model:
    building and serializing hundreds of model instances was most of a batch's Python time."""

    index: int
    reference: str | None
    id: uuid.UUID
    debit: Account
    credit: Account
    amount: int
    failure: str
    details: dict | None
    debit_after: int
    credit_after: int
    metadata: dict
    view: dict | None = None  # as the initiator sees it (set by `_batch_answer`)

    @property
    def currency(self) -> str:
        return self.debit.currency

    @property
    def status(self) -> str:
        return Status.FAILED if self.failure else Status.COMPLETED


@dataclass
class BatchPlan:
    """The judged batch: its items in order (FAILED ones included; none after an atomic
    decline), and the decline that stopped an atomic batch."""

    items: list
    declined: dict | None = None

    @property
    def written(self) -> bool:
        return self.declined is None

    @property
    def moves(self) -> list:
        return [item for item in self.items if not item.failure]


def _batch_judge(*, initiator, items, amounts, locked, atomic) -> BatchPlan:
    """Each item in order on the locked rows, exactly as a single transfer is judged
    (`_decline_reason`: status, limits, funds, bigint range), the rows carrying the running
    balances and usage. Writes nothing (but `funds_cover` may release expired holds, as any funds
    check does). Call inside the atomic block of `batch_create`, after `_lock_accounts`."""
    plan = BatchPlan([])
    for index, (item, amount) in enumerate(zip(items, amounts, strict=True)):
        debit, credit = locked[item.from_account_id], locked[item.to_account_id]
        failure = _decline_reason(Kind.TRANSFER, debit, credit, amount)
        details = None
        if failure:
            details = decline_details(failure, debit=debit, credit=credit, amount=amount, viewer=initiator)
            if atomic:
                plan.declined = {"index": index, "reference": item.reference, "code": failure, "details": details}
                plan.items = []
                return plan
        else:
            debit.balance -= amount
            credit.balance += amount
            if hasattr(debit, "window_usage"):
                debit.window_usage = {
                    window: (start, used + amount, count + 1)
                    for window, (start, used, count) in debit.window_usage.items()
                }
                debit.usage_added = getattr(debit, "usage_added", 0) + amount
                debit.usage_counted = getattr(debit, "usage_counted", 0) + 1
        plan.items.append(
            ItemOutcome(
                index,
                item.reference,
                uuid.uuid4(),
                debit,
                credit,
                amount,
                failure,
                details,
                debit.balance,
                credit.balance,
                item.metadata or {},
            )
        )
    return plan


def _batch_answer(batch: Batch, plan: BatchPlan, *, locked, viewer, now) -> tuple[int, dict]:
    """The status and body the request is answered with (API.md "Batches"), rendered once: the
    same body is stored for replays. Sets the batch's status and each item's `view`."""
    if not plan.written:
        batch.status = Batch.Status.FAILED
        return 422, BatchDeclinedError(extra={"details": plan.declined}).body()
    # Every account of the caller's that the batch named, as the batch left it.
    balances = balances_json(sorted(locked.values(), key=lambda account: account.id), viewer=viewer)
    render = _item_renderer(batch_id=batch.id, initiator=viewer, now=now)
    for item in plan.items:
        item.view = render(item)
    if batch.atomic:
        batch.status = Batch.Status.COMPLETED
        shown = {"transactions": [item.view for item in plan.items]}
        status, message = 201, ATOMIC_COMPLETED
    else:
        failed = sum(1 for item in plan.items if item.failure)
        if failed == 0:
            batch.status = Batch.Status.COMPLETED
        else:
            batch.status = Batch.Status.FAILED if failed == len(plan.items) else Batch.Status.PARTIAL
        results = []
        for item in plan.items:
            result = {"index": item.index, "reference": item.reference}
            if item.failure:
                extra = {"transaction": item.view, **({"details": item.details} if item.details else {})}
                result.update(status=422, error=DECLINES[item.failure](extra=extra).body())
            else:
                result.update(status=201, transaction=item.view)
            results.append(result)
        shown = {"results": results}
        status, message = 200, NON_ATOMIC_DONE
    body = {
        "message": message,
        "batch": {"id": str(batch.id), "atomic": batch.atomic, "status": batch.status, "count": batch.count, **shown},
        "balances": balances,
    }
    return status, body


def _item_renderer(*, batch_id, initiator, now):
    """An item's transaction JSON, field for field what `TransactionOutputSerializer` shows its
    initiator (tests/transactions/test_batches_api.py compares the two through the GET route and
    the events), written out by hand: DRF's serializer cost more than the rest of a batch together."""
    at = serializers.DateTimeField().to_representation(now)
    batch = str(batch_id)

    def render(item: ItemOutcome) -> dict:
        currency = item.currency
        amount = format_minor(item.amount, currency)
        entries = []
        if not item.failure:
            entries = [
                {
                    "account": str(account.id),
                    "type": side,
                    "amount": amount,
                    "balanceAfter": format_minor(after, currency) if account.owner_id == initiator.id else None,
                }
                for account, side, after in (
                    (item.debit, LedgerEntry.Type.DEBIT, item.debit_after),
                    (item.credit, LedgerEntry.Type.CREDIT, item.credit_after),
                )
            ]
        return {
            "id": str(item.id),
            "kind": Kind.TRANSFER.value,
            "fromAccount": str(item.debit.id),
            "toAccount": str(item.credit.id),
            "amount": amount,
            "currency": currency,
            "status": item.status.value,
            "idempotencyKey": None,  # the batch's key, not the item's
            "failureReason": item.failure or None,
            "reverses": None,
            "hold": None,
            "batch": batch,
            "createdAt": at,
            "updatedAt": at,
            "entries": entries,
            "metadata": item.metadata,  # the initiator's own labels
        }

    return render


# The whole batch in ONE statement, however many items: the batch row, its transactions (FAILED
# ones included), their entries in item order (entry ids grow with it, so each account's newest
# entry carries its final balance), every touched balance once, the usage windows of debited
# accounts that keep them, and the side effects. Arrays in, through unnest: a constant number of
# round trips. The arrays go in binary (`%(name)b`): psycopg writes a text array element by element
# in Python, quoting and escaping each (3.3 us a uuid, 6.4 us an email body), about 7 ms of a
# 100-item batch spent while its accounts are locked; the binary form costs a tenth of that. The
# balanced-transaction trigger checks every transaction when the statement ends, once for all of
# them; the foreign keys are checked at commit, as for POST_SQL.
BATCH_POST_SQL = f"""
    WITH new_batch AS (
        INSERT INTO {Batch._meta.db_table} (id, initiator_id, idempotency_id, atomic, status, count,
            response_status, response, created_at)
        VALUES (%(batch)s, %(initiator)s, %(claim)s, %(atomic)s, %(status)s, %(count)s,
            %(response_status)s, %(response)s::jsonb, %(now)s)
    ), new_transactions AS (
        INSERT INTO {Transaction._meta.db_table} (id, kind, status, from_account_id, to_account_id, amount,
            currency, failure_reason, initiator_id, idempotency_id, batch_id, reverses_id, hold_id, reason,
            metadata, created_at, updated_at)
        SELECT item.id, 'TRANSFER', item.status, item.debit, item.credit, item.amount,
            item.currency, item.failure, %(initiator)s, NULL, %(batch)s, NULL, NULL, '', item.metadata, %(now)s, %(now)s
        FROM unnest(%(t_id)b::uuid[], %(t_status)b::varchar[], %(t_debit)b::uuid[], %(t_credit)b::uuid[],
            %(t_amount)b::bigint[], %(t_currency)b::varchar[], %(t_failure)b::varchar[], %(t_metadata)b::jsonb[])
            AS item (id, status, debit, credit, amount, currency, failure, metadata)
    ), entries AS (
        INSERT INTO {LedgerEntry._meta.db_table} (transaction_id, account_id, type, amount, balance_after, created_at)
        SELECT entry.txn, entry.account, entry.type, entry.amount, entry.balance_after, %(now)s
        FROM unnest(%(e_txn)b::uuid[], %(e_account)b::uuid[], %(e_type)b::varchar[], %(e_amount)b::bigint[],
            %(e_balance)b::bigint[]) WITH ORDINALITY AS entry (txn, account, type, amount, balance_after, n)
        ORDER BY entry.n
    ), balances AS (
        UPDATE {Account._meta.db_table} AS account SET balance = new.balance, updated_at = %(now)s
        FROM unnest(%(a_id)b::uuid[], %(a_balance)b::bigint[]) AS new (id, balance)
        WHERE account.id = new.id
    ), usage AS (
        INSERT INTO {AccountUsage._meta.db_table} (account_id, "window", starts_on, amount, count)
        SELECT used.account, window_start.kind, window_start.starts_on, used.amount, used.n
        FROM unnest(%(u_account)b::uuid[], %(u_day)b::date[], %(u_month)b::date[], %(u_amount)b::bigint[],
            %(u_count)b::int[]) AS used (account, day, month, amount, n)
        CROSS JOIN LATERAL (VALUES ('DAY', used.day), ('MONTH', used.month)) AS window_start (kind, starts_on)
        ON CONFLICT (account_id, "window", starts_on)
        DO UPDATE SET amount = {AccountUsage._meta.db_table}.amount + EXCLUDED.amount,
            count = {AccountUsage._meta.db_table}.count + EXCLUDED.count
    ),
    -- The batch's side effects, written with it: its events and the owners' summary emails.
    events AS ({EVENTS_INSERT_SQL}
    ),
    side_effect_emails AS ({OUTBOX_INSERT_SQL}
    )
    SELECT 1
"""


def _batch_post(
    batch: Batch, plan: BatchPlan, *, locked: dict, emails: list[Email], events: list[EventRow], now
) -> None:
    """Write the judged batch with BATCH_POST_SQL. Call inside the atomic block of `batch_create`."""
    items, moves = plan.items, plan.moves
    # Entries in item order, debit first: their ids grow in that order, as the balances ran.
    entries = [
        (item.id, account.id, side, item.amount, after)
        for item in moves
        for account, side, after in (
            (item.debit, "DEBIT", item.debit_after),
            (item.credit, "CREDIT", item.credit_after),
        )
    ]
    moved = list({account.id: account for item in moves for account in (item.debit, item.credit)}.values())
    usage = [account for account in locked.values() if getattr(account, "usage_counted", 0)]
    with connection.cursor() as cursor:
        cursor.execute(
            BATCH_POST_SQL,
            {
                "batch": batch.id,
                "initiator": batch.initiator.id,
                "claim": batch.idempotency.id,
                "atomic": batch.atomic,
                "status": batch.status,
                "count": batch.count,
                "response_status": batch.response_status,
                "response": orjson.dumps(batch.response).decode(),  # as events_sql_params
                "now": now,
                "t_id": [item.id for item in items],
                "t_status": [item.status for item in items],
                "t_debit": [item.debit.id for item in items],
                "t_credit": [item.credit.id for item in items],
                "t_amount": [item.amount for item in items],
                "t_currency": [item.currency for item in items],
                "t_failure": [item.failure for item in items],
                "t_metadata": [orjson.dumps(item.metadata).decode() for item in items],
                "e_txn": [entry[0] for entry in entries],
                "e_account": [entry[1] for entry in entries],
                "e_type": [entry[2] for entry in entries],
                "e_amount": [entry[3] for entry in entries],
                "e_balance": [entry[4] for entry in entries],
                "a_id": [account.id for account in moved],
                "a_balance": [account.balance for account in moved],
                "u_account": [account.id for account in usage],
                "u_day": [account.window_usage[DAY][0] for account in usage],
                "u_month": [account.window_usage[MONTH][0] for account in usage],
                "u_amount": [account.usage_added for account in usage],
                "u_count": [account.usage_counted for account in usage],
                **events_sql_params(events),
                **outbox_sql_params(emails),
            },
        )


def batch_json(batch: Batch, transactions: dict, *, viewer) -> dict:
    """A stored batch as `GET /api/transactions/batch/{id}` shows it: the batch object of its
    answer, each transaction in it as it is now (reversed since, say); an atomic batch that was
    declined has none, and shows the decline."""
    shown = batch.response.get("batch")
    if shown is None:
        return {
            "id": str(batch.id),
            "atomic": batch.atomic,
            "status": batch.status,
            "count": batch.count,
            "transactions": [],
            "declined": batch.response.get("details"),
        }

    def now(data):
        txn = transactions[data["id"]]
        return s.TransactionOutputSerializer(txn, context={"viewer": viewer}).data

    shown = json.loads(json.dumps(shown))
    for data in shown.get("transactions", []):
        data.update(now(data))
    for result in shown.get("results", []):
        data = result.get("transaction") or result["error"]["transaction"]
        data.update(now(data))
    return shown
