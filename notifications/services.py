import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from .models import OutboxEmail

logger = logging.getLogger(__name__)


def email_enqueue(*, to: str, subject: str, body: str) -> OutboxEmail:
    """Write an outbox row in the caller's transaction; hand it to Celery once that commits.

    If the commit never happens the row never exists; if the broker is down at commit time the
    row stays unsent and beat's `outbox_redispatch_unsent` picks it up later.
    """
    return outbox_rows_enqueue(rows=[OutboxEmail(to=to, subject=subject, body=body)])[0]


def outbox_rows_enqueue(*, rows: list[OutboxEmail]) -> list[OutboxEmail]:
    """Several outbox rows in one INSERT (a transfer writes two)."""
    rows = OutboxEmail.objects.bulk_create(rows)
    ids = [row.id for row in rows]
    transaction.on_commit(lambda: outbox_dispatch(ids=ids), robust=True)
    return rows


def outbox_dispatch(*, ids: list[int]) -> int:
    """Publish the rows in one message (a transfer's two emails travel together: one broker
    round trip per commit); a broker failure is logged, never raised to the request."""
    from .tasks import outbox_email_send

    if not ids:
        return 0
    try:
        outbox_email_send.apply_async(args=list(ids), retry=False)
    except Exception:
        logger.warning("outbox %s not dispatched (broker unavailable); beat will retry", ids)
        return 0
    return len(ids)


def outbox_email_send(*, outbox_id: int) -> bool:
    """Send one row unless it was sent already; True if this call sent it.

    The row stays locked while the mail goes out, so a second delivery of the same task waits
    and then sees `sent_at` set. A failure rolls back and leaves the row for a retry.
    """
    with transaction.atomic():
        row = OutboxEmail.objects.select_for_update().filter(id=outbox_id, sent_at__isnull=True).first()
        if row is None:
            return False
        send_mail(row.subject, row.body, settings.DEFAULT_FROM_EMAIL, [row.to])
        row.sent_at = timezone.now()
        row.save(update_fields=["sent_at"])
    return True


def outbox_redispatch_unsent(*, older_than_seconds: int | None = None, limit: int = 500) -> int:
    """Publish again the rows still unsent after a grace period (the first dispatch gets that
    long to be delivered); returns how many were published."""
    if older_than_seconds is None:
        older_than_seconds = settings.OUTBOX_REDISPATCH_AFTER_SECONDS
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        OutboxEmail.objects.filter(sent_at__isnull=True, created_at__lte=cutoff)
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )
    return outbox_dispatch(ids=ids)
