"""Every write to the ledger: transfers, system funding and reversals.

Each one is a single database transaction (DESIGN.md, "The transfer, step by step"):
1. outside it, validate and resolve the accounts (ownership, currency, amount places);
2. inside it: claim the idempotency key, lock both accounts in one query ordered by primary
   key, check status and balance on the locked rows, write the transaction in its final state,
   its two entries and both balances, and the outbox rows; the emails leave after commit.
"""

import json
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from accounts.models import Account
from accounts.money import BALANCE_MAX, BALANCE_MIN, to_minor
from accounts.services import funding_account_ensure
from authn.exceptions import NotSystemUserError
from authn.models import User
from events.models import EventType
from events.services import (
    EVENTS_INSERT_SQL,
    events_record,
    events_sql_params,
    transaction_event_rows,
    transaction_viewers,
    viewers,
)
from ledger_project.db_retry import claim_is_own, claim_made, db_retry
from ledger_project.exceptions import InvalidInputError
from ledger_project.metadata import metadata_fingerprint
from ledger_project.rows import model_rows
from notifications.emails import OUTBOX_INSERT_SQL, Email, outbox_sql_params, transaction_emails

from .exceptions import (
    AccountInactiveError,
    AlreadyReversedError,
    AmountOutOfRangeError,
    CurrencyMismatchError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    InvalidAccountError,
    LimitExceededError,
    NotReversibleError,
    SameAccountError,
    TransactionNotFoundError,
)
from .funds import funds_cover
from .limits import limit_breach
from .models import IdempotencyKey, LedgerEntry, Transaction, entries_prefetch
from .usage import has_window_limit, usage_add, usage_read

Kind, Status = Transaction.Kind, Transaction.Status


@dataclass(frozen=True)
class LedgerWrite:
    """A service's outcome: the transaction (COMPLETED, FAILED, or a replayed one) and whether
    it was replayed from an earlier request with the same idempotency key."""

    transaction: Transaction
    replayed: bool
    # The locked rows as the write left them, for the answer's balances and a decline's details
    # without another query; None on a replay (nothing was locked).
    accounts: tuple[Account, Account] | None = None


@db_retry
def transfer_create(
    *,
    initiator: User,
    from_account_id,
    to_account_id,
    amount: Decimal,
    idempotency_key: str,
    metadata: dict | None = None,
) -> LedgerWrite:
    """Move `amount` from the initiator's account to any account of the same currency, with the
    initiator's `metadata` (validated by ledger_project.metadata) on the transaction."""
    source, target = transfer_accounts_resolve(
        initiator=initiator, from_account_id=from_account_id, to_account_id=to_account_id
    )
    return _ledger_write(
        kind=Kind.TRANSFER,
        initiator=initiator,
        idempotency_key=idempotency_key,
        source=source,
        target=target,
        amount=minor_units(amount, source.currency),
        metadata=metadata,
    )


def transfer_accounts_resolve(*, initiator: User, from_account_id, to_account_id) -> tuple[Account, Account]:
    """Both sides of a transfer or hold, with their owners, checked before any lock: the source
    is the initiator's, both are customer accounts of one currency."""
    accounts = {account.id: account for account in model_rows(Account, RESOLVE_SQL, [from_account_id, to_account_id])}
    source, target = accounts.get(from_account_id), accounts.get(to_account_id)
    # One error for "not yours" and "does not exist": the answer must not reveal which ids exist.
    # Funding accounts are not transfer endpoints: money enters only through funding_create.
    if source is None or source.owner_id != initiator.id or target is None or source.is_system or target.is_system:
        raise InvalidAccountError()
    if source.id == target.id:
        raise SameAccountError()
    if source.currency != target.currency:
        raise CurrencyMismatchError()
    # The owners, for the emails: the source's is the initiator; of the target's, its email and name.
    source.owner = initiator
    if target.owner_id == initiator.id:
        target.owner = initiator
    else:
        target.owner = User(id=target.owner_id, email=target.owner_email, name=target.owner_name)
    return source, target


# Both sides and the email and name of their owners, in one query. Plain SQL (ledger_project.rows),
# as LOCK_SQL below: select_related().in_bulk() cost several times the query's own time in Python.
RESOLVE_SQL = f"""
    SELECT account.*, owner.email AS owner_email, owner.name AS owner_name
    FROM {Account._meta.db_table} AS account JOIN {User._meta.db_table} AS owner ON owner.id = account.owner_id
    WHERE account.id IN (%s, %s)
"""


@db_retry
def funding_create(
    *, initiator: User, to_account_id, amount: Decimal, idempotency_key: str, metadata: dict | None = None
) -> LedgerWrite:
    """Bring money into the ledger: debit the system user's funding account in the target's
    currency (it may go negative) and credit the target."""
    if not initiator.is_system:
        raise NotSystemUserError()
    target = Account.objects.select_related("owner").filter(id=to_account_id).first()
    if target is None:
        raise InvalidAccountError()
    # Normally made by create_system_user; created here for a currency added since.
    source = funding_account_ensure(owner=initiator, currency=target.currency)
    if source.id == target.id:
        raise SameAccountError()
    return _ledger_write(
        kind=Kind.FUNDING,
        initiator=initiator,
        idempotency_key=idempotency_key,
        source=source,
        target=target,
        amount=minor_units(amount, target.currency),
        metadata=metadata,
    )


@db_retry
def transaction_reverse(*, initiator: User, transaction_id, idempotency_key: str, reason: str = "") -> LedgerWrite:
    """Undo a COMPLETED transfer or funding with a new REVERSAL that moves the amount back
    (debit the original receiver, credit the original sender) and mark the original REVERSED.
    Corrections are new transactions: the original and its entries are never edited."""
    if not initiator.is_system:
        raise NotSystemUserError()
    original = (
        Transaction.objects.select_related("from_account__owner", "to_account__owner").filter(id=transaction_id).first()
    )
    if original is None:
        raise TransactionNotFoundError()
    return _ledger_write(
        kind=Kind.REVERSAL,
        initiator=initiator,
        idempotency_key=idempotency_key,
        source=original.to_account,
        target=original.from_account,
        amount=original.amount,
        reverses=original,
        reason=reason,
    )


def minor_units(amount: Decimal, currency: str) -> int:
    """A request's amount in the currency's minor unit; too many places is a 400."""
    try:
        return to_minor(amount, currency)
    except ValueError as exc:
        raise InvalidInputError(errors={"amount": [str(exc)]}) from exc


def _ledger_write(
    *, kind, initiator, idempotency_key, source, target, amount, reverses=None, reason="", metadata=None
) -> LedgerWrite:
    """The one writer of the ledger, in one database transaction. The invariants it keeps, where
    the database enforces each (triggers in transactions/migrations/0002_ledger_guards.sql), and
    the verify_ledger check (transactions/audit.py CHECKS) that finds a breach:

    - One outcome per idempotency key: unique `idempotency_one_outcome_per_key`; replays match
      the stored fingerprint.
    - A completed transaction has one DEBIT of `from_account` and one CREDIT of `to_account`,
      both of its amount: statement triggers `transaction_balanced_insert` / `_update` and
      `ledger_entry_balanced` (migration 0011), unique `ledger_entry_one_side_each`; check
      "completed transaction has one DEBIT (from) and one CREDIT (to) ...". A FAILED one has no
      entries: the same triggers; check "no entries on failed or pending transactions".
    - Amounts are positive and the two accounts differ: CHECKs `transaction_amount_positive`,
      `ledger_entry_amount_positive`, `transaction_distinct_accounts`.
    - A balance equals its entries and its newest `balance_after`; money is conserved per
      currency: checks "account balance equals its entries", "... its newest entry's
      balance_after", "money is conserved".
    - No customer account below its overdraft floor: CHECK `account_available_within_overdraft`
      (balance − held ≥ −overdraft_limit); check "no customer account's available below its
      overdraft floor".
    - Append-only: triggers `ledger_entry_append_only`, `ledger_entry_no_truncate`,
      `transaction_no_delete`, `transaction_no_truncate`, `transaction_money_immutable`.
    - One completed reversal per original: unique `transaction_one_completed_reversal`; check
      "a REVERSED transaction has exactly one completed reversal".
    - Every completed, failed or reversed transaction has its events, one per user who may see
      it, and none survives a rollback: written in this transaction (POST_SQL's `events`, or
      `events_record` for a decline); checks "each completed, failed and reversed transaction
      ... has its events" and "no event without its change".

    The helpers below that take locks or write rows assume this atomic block.
    """
    if reverses is not None:
        fingerprint = idempotency_fingerprint(kind, reverses.id)
    else:
        fingerprint = idempotency_fingerprint(kind, source.id, target.id, amount, *metadata_fingerprint(metadata))

    with transaction.atomic():
        claim = _idempotency_claim(initiator=initiator, key=idempotency_key, fingerprint=fingerprint)
        if claim is None:
            txn = _idempotency_replay(initiator=initiator, key=idempotency_key, fingerprint=fingerprint)
            # This request's own earlier attempt, committed before its connection broke: the write's answer.
            return LedgerWrite(txn, not claim_is_own(txn.idempotency_id))
        if reverses is not None:
            _lock_reversible(reverses.id)

        locked = _lock_accounts(source.id, target.id)
        debit, credit = locked[source.id], locked[target.id]
        now = timezone.now()
        # Usage is read and counted only for an account with a daily or monthly limit (the
        # default has none): the common transfer makes no statement for it.
        counts_usage = kind == Kind.TRANSFER and has_window_limit(debit)
        if counts_usage:
            usage_read(debit, now)
        failure = _decline_reason(kind, debit, credit, amount)
        txn = Transaction(
            kind=kind,
            status=Status.FAILED if failure else Status.COMPLETED,
            from_account=debit,
            to_account=credit,
            amount=amount,
            currency=debit.currency,
            failure_reason=failure,
            initiator=initiator,
            idempotency=claim,
            reverses=reverses,
            reason=reason,
            metadata=metadata or {},
        )
        if failure:
            txn.save(force_insert=True)
            txn.entry_list = []
            _record_views(txn, EventType.TRANSACTION_FAILED, [txn.initiator_id])
            events_record(txn.event_rows, created_at=txn.created_at)
        else:
            debit.balance -= amount
            credit.balance += amount
            emails = transaction_emails(
                txn=txn, debit=debit, credit=credit, debit_owner=source.owner, credit_owner=target.owner
            )
            # Kept on the transaction for the response, so nothing after the commit needs the
            # database (a failure there would turn a stored write into a 503).
            extra_events = _reversed_original_events(reverses, now) if reverses is not None else ()
            txn.entry_list = _post_completed(txn, debit, credit, emails, now=now, extra_events=extra_events)
            if counts_usage:
                usage_add(debit, amount)
    return LedgerWrite(txn, False, (debit, credit))


def _record_views(txn: Transaction, type: str, user_ids) -> None:
    """The event rows of `txn` for each user, kept on it as `event_rows`; `views` maps each user to
    their row's data, so the write's own answer reuses the caller's instead of serializing again."""
    txn.event_rows = transaction_event_rows(txn, type=type, user_ids=user_ids)
    txn.views = {row.user_id: row.data for row in txn.event_rows}


def _reversed_original_events(original: Transaction, now) -> list:
    """transaction.reversed: the original as its owners will see it once this write commits (POST_SQL
    marks it REVERSED at `now`). Call inside the atomic block of `_ledger_write`, after
    `_lock_reversible`."""
    shown = Transaction.objects.select_related("idempotency").prefetch_related(entries_prefetch()).get(id=original.id)
    shown.status, shown.updated_at = Status.REVERSED, now
    owners = viewers(original.from_account.owner_id, original.to_account.owner_id)
    return transaction_event_rows(shown, type=EventType.TRANSACTION_REVERSED, user_ids=owners)


def idempotency_fingerprint(kind, *subjects) -> str:
    """What a key was used for: a replay must match it exactly. One format, so the bench's
    bulk seed and its SQL script (bench/) derive it from here rather than copy it."""
    return ":".join(str(part) for part in (kind, *subjects))


CLAIM_SQL = f"""
    INSERT INTO {IdempotencyKey._meta.db_table} (initiator_id, key, fingerprint, created_at)
    VALUES (%s, %s, %s, %s)
    ON CONFLICT (initiator_id, key) DO NOTHING
    RETURNING id
"""


def _idempotency_claim(*, initiator, key, fingerprint) -> IdempotencyKey | None:
    """Insert the key, or return None if this user already used it. Call inside the atomic block of `_ledger_write`.

    ON CONFLICT DO NOTHING waits for a concurrent insert of the same key to commit or roll back,
    so a duplicate request either claims the key (the first one failed) or sees the outcome.
    """
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL, [initiator.id, key, fingerprint, now])
        row = cursor.fetchone()
    if row is None:
        return None
    claim_made(row[0])
    return IdempotencyKey(id=row[0], initiator=initiator, key=key, fingerprint=fingerprint, created_at=now)


def _idempotency_replay(*, initiator, key, fingerprint) -> Transaction:
    claim = IdempotencyKey.objects.select_related("transaction").get(initiator=initiator, key=key)
    if claim.fingerprint != fingerprint:
        raise IdempotencyKeyReusedError()
    txn = claim.transaction
    prefetch_related_objects([txn], entries_prefetch())
    return txn


def _lock_reversible(transaction_id):
    """Lock the original so two reversals of it run one after the other, then check it.
    Call inside the atomic block of `_ledger_write`."""
    status, kind = Transaction.objects.select_for_update().values_list("status", "kind").get(id=transaction_id)
    if status == Status.REVERSED:
        raise AlreadyReversedError()
    if status != Status.COMPLETED or kind == Kind.REVERSAL:
        raise NotReversibleError()


# One query, ordered by primary key: every writer takes its locks in the same order, so A→B and
# B→A transfers queue behind each other instead of deadlocking. Plain SQL, as POST_SQL: the ORM's
# select_for_update() costs more Python time to build than the query takes. The ids go in binary
# (`%b`): a batch locks hundreds, and psycopg's text arrays cost ~3 us an element (BATCH_POST_SQL).
LOCK_SQL = f"SELECT * FROM {Account._meta.db_table} WHERE id = ANY(%b) ORDER BY id FOR UPDATE"


def _lock_accounts(*account_ids) -> dict:
    """Both accounts, locked. Call inside the atomic block of `_ledger_write`."""
    return {account.id: account for account in model_rows(Account, LOCK_SQL, [list(account_ids)])}


def _decline_reason(kind, debit: Account, credit: Account, amount: int) -> str:
    """Checked on the locked rows (call inside the atomic block of `_ledger_write`). Reversals
    may touch FROZEN accounts (freezing is how operators stop fraud, and the reversal is the
    remedy), never CLOSED ones. Funds are `available` (balance − held + overdraft limit), never
    `balance`. Limits (transactions/limits.py) bind transfers only: funding and reversals are
    operators' tools."""
    if kind == Kind.REVERSAL:
        inactive = Account.Status.CLOSED in (debit.status, credit.status)
    else:
        inactive = debit.status != Account.Status.ACTIVE or credit.status != Account.Status.ACTIVE
    if inactive:
        return AccountInactiveError.code
    if kind == Kind.TRANSFER and limit_breach(debit, credit, amount) is not None:
        return LimitExceededError.code
    if not funds_cover(debit, amount):
        return InsufficientFundsError.code
    # A funding account goes negative by all the money ever minted, a customer's balance up: past
    # the bigint range, the write would fail in PostgreSQL (a 500).
    if debit.balance - amount < BALANCE_MIN or credit.balance + amount > BALANCE_MAX:
        return AmountOutOfRangeError.code
    return ""


POST_SQL = f"""
    WITH new_transaction AS (
        INSERT INTO {Transaction._meta.db_table} (id, kind, status, from_account_id, to_account_id, amount,
            currency, failure_reason, initiator_id, idempotency_id, reverses_id, hold_id, reason, created_at, updated_at,
            metadata)
        VALUES (%(id)s, %(kind)s, 'COMPLETED', %(debit)s, %(credit)s, %(amount)s,
            %(currency)s, '', %(initiator)s, %(claim)s, %(reverses)s, %(hold)s, %(reason)s, %(now)s, %(now)s,
            %(metadata)s::jsonb)
    ), entries AS (
        INSERT INTO {LedgerEntry._meta.db_table} (transaction_id, account_id, type, amount, balance_after, created_at)
        VALUES (%(id)s, %(debit)s, 'DEBIT', %(amount)s, %(debit_balance)s, %(now)s),
               (%(id)s, %(credit)s, 'CREDIT', %(amount)s, %(credit_balance)s, %(now)s)
    ), balances AS (
        UPDATE {Account._meta.db_table} AS account SET balance = new.balance, updated_at = %(now)s
        FROM (VALUES (%(debit)s::uuid, %(debit_balance)s::bigint), (%(credit)s::uuid, %(credit_balance)s::bigint))
            AS new (id, balance)
        WHERE account.id = new.id
    ), reversed_original AS (
        UPDATE {Transaction._meta.db_table} SET status = 'REVERSED', updated_at = %(now)s WHERE id = %(reverses)s
    ), events AS ({EVENTS_INSERT_SQL}
    )
    {OUTBOX_INSERT_SQL}
"""


def _post_completed(
    txn: Transaction, debit: Account, credit: Account, emails: list[Email], *, now=None, extra_events=()
) -> list[LedgerEntry]:
    """The completed transaction (a transfer, funding, reversal or hold capture), its two entries,
    both balances, the original's REVERSED status (for a reversal), the outbox rows and the events
    (transaction.completed for each user who may see it, and `extra_events`) in ONE statement:
    each was a round trip of its own, and the ORM's cost per statement was most of the request's.
    The balanced-transaction trigger checks the transaction when the statement ends; the foreign
    keys (deferred, as Django makes them) are checked at commit. Call inside the atomic block of
    `_ledger_write`, on rows `_lock_accounts` returned, carrying their new balances.
    `now` is the time usage was counted at, so the transaction lands in the same window.

    An entry is never older than the one before it on its account (statements find a period's
    entries by time, then page them by id): `now` is raised to the locked rows' `updated_at`,
    which every earlier post set, should another process's clock run behind."""
    now = max(now or timezone.now(), debit.updated_at, credit.updated_at)
    debit.updated_at = credit.updated_at = txn.created_at = txn.updated_at = now
    # The entries first: the events show the transaction with them, as its answer does.
    txn.entry_list = [
        LedgerEntry(
            transaction=txn,
            account=account,
            type=side,
            amount=txn.amount,
            balance_after=account.balance,
            created_at=now,
        )
        for account, side in ((debit, LedgerEntry.Type.DEBIT), (credit, LedgerEntry.Type.CREDIT))
    ]
    _record_views(txn, EventType.TRANSACTION_COMPLETED, transaction_viewers(txn, debit, credit))
    with connection.cursor() as cursor:
        cursor.execute(
            POST_SQL,
            {
                "id": txn.id,
                "kind": txn.kind,
                "debit": debit.id,
                "credit": credit.id,
                "amount": txn.amount,
                "currency": txn.currency,
                "initiator": txn.initiator_id,
                "claim": txn.idempotency_id,
                "reverses": txn.reverses_id,
                "hold": txn.hold_id,
                "reason": txn.reason,
                "now": now,
                "debit_balance": debit.balance,
                "credit_balance": credit.balance,
                # Text, cast in the statement: nothing to adapt for the common transfer without any.
                "metadata": json.dumps(txn.metadata) if txn.metadata else "{}",
                **events_sql_params([*txn.event_rows, *extra_events]),
                **outbox_sql_params(emails),
            },
        )
    return txn.entry_list
