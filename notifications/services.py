"""The outbox: emails written in the caller's transaction, handed to Celery by a relay, sent once.

The request path only inserts rows. `outbox_relay` (beat, every second) hands the due rows to the
workers in small chunks; `outbox_email_send` sends one row under its row lock and records the
outcome on it, so one bad address fails its own row and nothing else.
"""

import logging
import smtplib
from datetime import timedelta
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from .models import OutboxEmail

logger = logging.getLogger(__name__)


def email_enqueue(*, to: str, subject: str, body: str) -> OutboxEmail:
    """Write an outbox row in the caller's transaction; the relay sends it after the commit.

    If the commit never happens the row never exists; nothing here waits on the broker.
    """
    return outbox_rows_enqueue(rows=[OutboxEmail(to=to, subject=subject, body=body)])[0]


def outbox_rows_enqueue(*, rows: list[OutboxEmail]) -> list[OutboxEmail]:
    """Several outbox rows in one INSERT (a transfer writes two). No broker publish: a frozen or
    absent Redis must cost the request nothing, so `outbox_relay` publishes off the request path."""
    return OutboxEmail.objects.bulk_create(rows)


def outbox_relay(*, chunk_size: int | None = None) -> int:
    """Hand every row due when the run starts to the workers, `chunk_size` ids per message;
    returns how many rows were handed over.

    Each chunk is claimed with SKIP LOCKED and leased, so relays running at once share the backlog
    and a row is handed over again only if nothing sent it within the lease (a lost message, a
    worker that died). A broker failure gives the chunk back for the next run.
    """
    chunk_size = chunk_size or settings.OUTBOX_RELAY_CHUNK_SIZE
    started = timezone.now()  # rows leased by this run are due later: the loop ends
    handed = 0
    while ids := _outbox_claim(due_at=started, limit=chunk_size):
        if not _outbox_publish(ids):
            OutboxEmail.objects.filter(id__in=ids).update(next_attempt_at=timezone.now())
            break
        handed += len(ids)
    return handed


def _outbox_claim(*, due_at, limit: int) -> list[int]:
    lease = timedelta(seconds=settings.OUTBOX_REDISPATCH_AFTER_SECONDS)
    with transaction.atomic():
        due = OutboxEmail.objects.due(due_at).order_by("next_attempt_at").select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[:limit])
        OutboxEmail.objects.filter(id__in=ids).update(next_attempt_at=timezone.now() + lease)
    return ids


def _outbox_publish(ids: list[int]) -> bool:
    """One message for the chunk; a broker failure is logged and reported, never raised."""
    from .tasks import outbox_email_send

    try:
        outbox_email_send.apply_async(args=ids, retry=False)
    except Exception:
        logger.warning("outbox rows %s not handed over (broker unavailable); the next relay retries", ids)
        return False
    return True


def outbox_email_send(*, outbox_id: int) -> bool:
    """Send one row unless it was sent or failed already; True if this call sent it.

    The row stays locked while the mail goes out, so a second delivery of the same message waits
    and then finds it done. A mail failure is recorded on this row only (see
    `_outbox_attempt_failed`); a database error propagates, so the task retries it.
    """
    with transaction.atomic():
        row = (
            OutboxEmail.objects.select_for_update()
            .filter(id=outbox_id, sent_at__isnull=True, failed_at__isnull=True)
            .first()
        )
        if row is None:
            return False
        row.attempts += 1
        row.body = outbox_body(row)
        try:
            _outbox_message(row).send()
        # Whatever the mail side raises belongs to this row alone: it must never stop the rows
        # after it in the chunk, nor roll back the record of this attempt.
        except Exception as exc:
            _outbox_attempt_failed(row, exc)
            return False
        row.sent_at = timezone.now()
        row.save(update_fields=["sent_at", "attempts", "body"])
    return True


def outbox_body(row: OutboxEmail) -> str:
    """The row's text: written with it, or for a batch summary, from the batch's entries (written
    on the row at its first attempt, so the row keeps what the customer was told)."""
    if row.body or row.batch_id is None:
        return row.body
    from .emails import batch_email_body  # emails builds on this module's outbox_rows_enqueue

    return batch_email_body(batch_id=row.batch_id, owner=row.owner)


def _outbox_message(row: OutboxEmail) -> EmailMessage:
    # A stable Message-ID: if a row is ever sent twice (a worker dying between the SMTP answer and
    # the commit), receivers drop the duplicate.
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    headers = {"Message-ID": f"<outbox-{row.id}@{domain}>"}
    return EmailMessage(row.subject, row.body, settings.DEFAULT_FROM_EMAIL, [row.to], headers=headers)


def _outbox_attempt_failed(row: OutboxEmail, exc: Exception) -> None:
    """A refusal that no retry can cure fails the row at once; anything else is retried with
    doubling delays until OUTBOX_MAX_ATTEMPTS, then the row fails. A failed row is a dead letter:
    kept, shown in the admin, never due again."""
    row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    if outbox_error_is_permanent(exc) or row.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
        row.failed_at = timezone.now()
        logger.error("outbox email %s failed after %d attempt(s): %s", row.id, row.attempts, row.last_error)
    else:
        delay = settings.OUTBOX_RETRY_BACKOFF_SECONDS * 2 ** (row.attempts - 1)
        row.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        logger.warning(
            "outbox email %s attempt %d failed, retrying in %d s: %s", row.id, row.attempts, delay, row.last_error
        )
    row.save(update_fields=["attempts", "last_error", "failed_at", "next_attempt_at", "body"])


def outbox_error_is_permanent(exc: Exception) -> bool:
    """True for a refusal of this message for good: the recipient refused with a 5xx, the message
    refused with a 5xx, or an address that cannot be put in a header (ValueError from building
    it). The sender's address and the login are the deployment's, not the row's: their refusals
    are retried like a passing failure, so a wrong setting does not kill every email at once."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, (smtplib.SMTPSenderRefused, smtplib.SMTPAuthenticationError)):
        return False
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return isinstance(exc, ValueError)


def outbox_emails_requeue(*, outbox_ids) -> list[int]:
    """Make the unsent rows among `outbox_ids` due now, failed ones (dead letters) included, with
    their attempts counted afresh; returns the ids requeued. A sent row is never sent again, and
    a row a worker is sending right now (locked) is left to it. The relay then hands them over
    like any due row, through `outbox_email_send`."""
    with transaction.atomic():
        unsent = OutboxEmail.objects.select_for_update(skip_locked=True).filter(id__in=outbox_ids, sent_at__isnull=True)
        ids = list(unsent.values_list("id", flat=True))
        # last_error stays: it is what the operator looked at before retrying.
        OutboxEmail.objects.filter(id__in=ids).update(failed_at=None, attempts=0, next_attempt_at=timezone.now())
    return ids
