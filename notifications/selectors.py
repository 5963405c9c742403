from django.db.models import Count, Min

from .models import OutboxEmail


def outbox_backlog() -> dict:
    """How many emails are neither sent nor failed, and when the oldest of them was written
    (None when there are none). For /metrics; reads only the backlog (the relay's partial index)."""
    return OutboxEmail.objects.filter(sent_at__isnull=True, failed_at__isnull=True).aggregate(
        unsent=Count("id"), oldest=Min("created_at")
    )
