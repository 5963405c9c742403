"""Holds: reserve money now, capture it (move it) or void it (release it) later.

Each write keeps the transfer's discipline (transactions/services.py), in one database
transaction: claim the idempotency key; lock the hold row, then both accounts in one query
ordered by primary key; check status, expiry and funds on the locked rows; write the outcome
and its outbox rows; the emails leave after commit. Capture, void and expiry of one hold queue
on the hold's lock, so exactly one of them finds it PENDING.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account
from accounts.money import BALANCE_MAX, format_minor
from authn.models import User
from ledger_project.metadata import metadata_fingerprint
from notifications.emails import hold_emails_enqueue, transaction_emails

from .declines import inactive_details
from .exceptions import (
    AccountInactiveError,
    AmountOutOfRangeError,
    CaptureExceedsHoldError,
    HoldNotFoundError,
    HoldNotPendingError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    LimitExceededError,
)
from .funds import funds_cover
from .limits import limit_breach, max_balance_breach
from .models import Hold, IdempotencyKey, Transaction, entries_prefetch
from .services import (
    _idempotency_claim,
    _lock_accounts,
    _post_completed,
    idempotency_fingerprint,
    minor_units,
    transfer_accounts_resolve,
)
from .usage import has_window_limit, usage_add, usage_give_back, usage_read

HOLD, CAPTURE, VOID = "HOLD", "CAPTURE", "VOID"  # what a key was used for (its fingerprint's head)


@dataclass(frozen=True)
class HoldWrite:
    """A hold service's outcome: the hold, the capture's transaction (capture only), whether it
    was replayed, and the locked accounts as the write left them (None on a replay)."""

    hold: Hold
    replayed: bool
    transaction: Transaction | None = None
    accounts: tuple[Account, Account] | None = None


def hold_create(
    *,
    initiator: User,
    from_account_id,
    to_account_id,
    amount: Decimal,
    idempotency_key: str,
    expires_in: int,
    metadata: dict | None = None,
) -> HoldWrite:
    """Reserve `amount` on the initiator's account for any account of the same currency: the
    source's `held` rises by it. A decline (inactive side, funds short) is a FAILED hold that
    reserved nothing, and the key is spent, as for a transfer."""
    source, target = transfer_accounts_resolve(
        initiator=initiator, from_account_id=from_account_id, to_account_id=to_account_id
    )
    amount = minor_units(amount, source.currency)
    fingerprint = idempotency_fingerprint(
        HOLD, source.id, target.id, amount, expires_in, *metadata_fingerprint(metadata)
    )
    with transaction.atomic():
        claim = _idempotency_claim(initiator=initiator, key=idempotency_key, fingerprint=fingerprint)
        if claim is None:
            return _replay(initiator=initiator, key=idempotency_key, fingerprint=fingerprint)
        locked = _lock_accounts(source.id, target.id)
        debit, credit = locked[source.id], locked[target.id]
        now = timezone.now()
        counts_usage = has_window_limit(debit)  # a hold counts toward usage when created
        if counts_usage:
            usage_read(debit, now)
        failure = _create_decline_reason(debit, credit, amount)
        hold = Hold.objects.create(
            from_account=debit,
            to_account=credit,
            amount=amount,
            currency=debit.currency,
            status=Hold.Status.FAILED if failure else Hold.Status.PENDING,
            expires_at=now + timedelta(seconds=expires_in),
            failure_reason=failure,
            initiator=initiator,
            idempotency=claim,
            metadata=metadata or {},
            created_at=now,
        )
        hold.capture_id = None
        if not failure:
            _held_add(debit, amount)
            if counts_usage:
                usage_add(debit, amount)
            hold_emails_enqueue(hold=hold, source=debit, source_owner=source.owner)
    return HoldWrite(hold, False, None, (debit, credit))


def hold_capture(*, initiator: User, hold_id, idempotency_key: str, amount: Decimal | None = None) -> HoldWrite:
    """Move `amount` (default: all) of a PENDING, unexpired hold as a COMPLETED TRANSFER linked
    to it, and release the whole hold from `held`. Funds are not checked again: they were
    reserved. A FROZEN or CLOSED side refuses it (422, nothing written, the key not spent)."""
    hold = _hold_for(initiator=initiator, hold_id=hold_id, voiding=False)
    owners = (hold.from_account.owner, hold.to_account.owner)  # loaded before the locks, for the emails
    requested = minor_units(amount, hold.currency) if amount is not None else None
    fingerprint = idempotency_fingerprint(CAPTURE, hold.id, "all" if requested is None else requested)
    with transaction.atomic():
        claim = _idempotency_claim(initiator=initiator, key=idempotency_key, fingerprint=fingerprint)
        if claim is None:
            return _replay(initiator=initiator, key=idempotency_key, fingerprint=fingerprint)
        hold = _lock_pending(hold.id)
        captured = hold.amount if requested is None else requested
        if captured > hold.amount:
            amounts = {"amount": hold.amount, "requested": captured}
            details = {name: format_minor(value, hold.currency) for name, value in amounts.items()}
            raise CaptureExceedsHoldError(extra={"details": details})
        locked = _lock_accounts(hold.from_account_id, hold.to_account_id)
        debit, credit = locked[hold.from_account_id], locked[hold.to_account_id]
        if Account.Status.ACTIVE != debit.status or Account.Status.ACTIVE != credit.status:
            details = inactive_details((debit, credit), viewer=initiator)
            raise AccountInactiveError(extra={"details": details} if details else None)
        if credit.balance + captured > BALANCE_MAX:
            raise AmountOutOfRangeError()
        # The destination's maxBalance is checked again: its balance may have grown since the
        # hold. The source's limits are not: they bound what it reserved, at hold time.
        breach = max_balance_breach(credit, captured)
        if breach is not None:
            details = breach.details() if credit.owner_id == initiator.id else None
            raise LimitExceededError(extra={"details": details} if details else None)
        # Released before the entries post: the CHECK balance − held ≥ 0 holds after each statement.
        _held_add(debit, -hold.amount)
        txn = Transaction(
            kind=Transaction.Kind.TRANSFER,
            status=Transaction.Status.COMPLETED,
            from_account=debit,
            to_account=credit,
            amount=captured,
            currency=hold.currency,
            initiator=initiator,
            idempotency=claim,
            hold=hold,
        )
        debit.balance -= captured
        credit.balance += captured
        emails = transaction_emails(txn=txn, debit=debit, credit=credit, debit_owner=owners[0], credit_owner=owners[1])
        txn.entry_list = _post_completed(txn, debit, credit, emails)
        _hold_finish(hold, Hold.Status.CAPTURED, captured_amount=captured)
        hold.capture_id = txn.id
    return HoldWrite(hold, False, txn, (debit, credit))


def hold_void(*, initiator: User, hold_id, idempotency_key: str) -> HoldWrite:
    """Release a PENDING, unexpired hold's whole amount. Works on FROZEN accounts: releasing a
    reservation never moves money."""
    hold = _hold_for(initiator=initiator, hold_id=hold_id, voiding=True)
    fingerprint = idempotency_fingerprint(VOID, hold.id)
    with transaction.atomic():
        claim = _idempotency_claim(initiator=initiator, key=idempotency_key, fingerprint=fingerprint)
        if claim is None:
            return _replay(initiator=initiator, key=idempotency_key, fingerprint=fingerprint)
        hold = _lock_pending(hold.id)
        locked = _lock_accounts(hold.from_account_id, hold.to_account_id)
        debit, credit = locked[hold.from_account_id], locked[hold.to_account_id]
        _held_add(debit, -hold.amount)
        if has_window_limit(debit):
            usage_give_back(debit, hold)
        _hold_finish(hold, Hold.Status.VOIDED, void_idempotency=claim)
        hold.capture_id = None
    return HoldWrite(hold, False, None, (debit, credit))


def holds_expire(*, now=None, limit: int = 1000) -> int:
    """Mark PENDING holds past their expiry EXPIRED and release their `held`; returns how many.
    Beat runs it; safe to run twice or beside captures (each hold in its own transaction, under
    its lock, re-checked there: a capture or void that got there first wins)."""
    now = now or timezone.now()
    due = list(
        Hold.objects.filter(status=Hold.Status.PENDING, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("id", flat=True)[:limit]
    )
    expired = 0
    for hold_id in due:
        with transaction.atomic():
            hold = Hold.objects.select_for_update().filter(id=hold_id, status=Hold.Status.PENDING).first()
            if hold is None or not hold.is_expired(now):
                continue  # captured, voided or swept meanwhile
            locked = _lock_accounts(hold.from_account_id, hold.to_account_id)
            debit = locked[hold.from_account_id]
            _held_add(debit, -hold.amount)
            if has_window_limit(debit):
                usage_give_back(debit, hold)
            _hold_finish(hold, Hold.Status.EXPIRED)
            expired += 1
    return expired


def _create_decline_reason(debit: Account, credit: Account, amount: int) -> str:
    """Checked on the locked rows, inside hold_create's atomic block."""
    if debit.status != Account.Status.ACTIVE or credit.status != Account.Status.ACTIVE:
        return AccountInactiveError.code
    if limit_breach(debit, credit, amount) is not None:
        return LimitExceededError.code
    if not funds_cover(debit, amount):
        return InsufficientFundsError.code
    return ""


def _hold_for(*, initiator: User, hold_id, voiding: bool) -> Hold:
    """The hold if `initiator` may act on it, before any lock: its creator and the destination's
    owner may capture and void, system users may void any; everyone else gets a 404, and so does
    anyone but its creator for a declined (FAILED) hold."""
    hold = Hold.objects.select_related("from_account__owner", "to_account__owner").filter(id=hold_id).first()
    if hold is None:
        raise HoldNotFoundError()
    creator = hold.initiator_id == initiator.id
    if hold.status == Hold.Status.FAILED and not creator:
        raise HoldNotFoundError()
    if not (creator or hold.to_account.owner_id == initiator.id or (voiding and initiator.is_system)):
        raise HoldNotFoundError()
    return hold


def _lock_pending(hold_id) -> Hold:
    """Lock the hold (first of the write's locks) and require it PENDING and unexpired, checked
    at this moment: an expired hold answers as EXPIRED whether or not beat has swept it yet.
    Call inside the write's atomic block."""
    hold = Hold.objects.select_for_update(of=("self",)).select_related("idempotency").get(id=hold_id)
    status = hold.status
    if status == Hold.Status.PENDING and hold.is_expired(timezone.now()):
        status = Hold.Status.EXPIRED
    if status != Hold.Status.PENDING:
        raise HoldNotPendingError(extra={"details": {"status": status}})
    return hold


HELD_SQL = f"UPDATE {Account._meta.db_table} SET held = held + %s, updated_at = %s WHERE id = %s RETURNING held"


def _held_add(account: Account, delta: int) -> None:
    """Change a locked account's `held` (negative to release). Call inside the write's atomic block."""
    with connection.cursor() as cursor:
        cursor.execute(HELD_SQL, [delta, timezone.now(), account.id])
        (account.held,) = cursor.fetchone()


def _hold_finish(hold: Hold, status: str, **changes) -> None:
    hold.status = status
    for name, value in changes.items():
        setattr(hold, name, value)
    hold.save(update_fields=["status", "updated_at", *changes])


def _replay(*, initiator: User, key: str, fingerprint: str) -> HoldWrite:
    """The stored outcome of a key this user already used, if it was used for this request."""
    claim = IdempotencyKey.objects.get(initiator=initiator, key=key)
    if claim.fingerprint != fingerprint:
        raise IdempotencyKeyReusedError()
    head = fingerprint.split(":", 1)[0]
    if head == CAPTURE:
        txn = (
            Transaction.objects.select_related("idempotency", "hold__idempotency")
            .prefetch_related(entries_prefetch())
            .get(idempotency=claim)
        )
        hold = txn.hold
        hold.capture_id = txn.id
        return HoldWrite(hold, True, txn)
    link = "void_idempotency" if head == VOID else "idempotency"
    hold = Hold.objects.select_related("capture", "idempotency").get(**{link: claim})
    hold.capture_id = hold.capture.id if hasattr(hold, "capture") else None
    return HoldWrite(hold, True)
