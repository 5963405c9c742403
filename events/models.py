import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class EventType(models.TextChoices):
    TRANSACTION_COMPLETED = "transaction.completed"
    TRANSACTION_FAILED = "transaction.failed"
    TRANSACTION_REVERSED = "transaction.reversed"
    HOLD_CREATED = "hold.created"
    HOLD_CAPTURED = "hold.captured"
    HOLD_VOIDED = "hold.voided"
    HOLD_EXPIRED = "hold.expired"
    ACCOUNT_CREATED = "account.created"
    ACCOUNT_FROZEN = "account.frozen"
    ACCOUNT_UNFROZEN = "account.unfrozen"
    ACCOUNT_CLOSED = "account.closed"
    BATCH_COMPLETED = "batch.completed"


class Event(models.Model):
    """Something that happened to one user's objects, as that user may see it (API.md, "Events
    and webhooks"). Written in the same database transaction as the change it describes, so an
    event exists if and only if its change committed; a change seen by two users is two events.

    `data` is the object as the API shows it to `user`, frozen at the time of the event.
    `webhooks_pending` marks the events the webhook relay has not yet fanned out to endpoints.
    """

    Type = EventType

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: event_user_newest_idx leads with it (one index write fewer per event).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="events", db_index=False)
    type = models.CharField(max_length=40, choices=Type.choices)
    data = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_default=models.functions.Now())
    webhooks_pending = models.BooleanField(default=True, db_default=True)

    class Meta:
        indexes = [
            # GET /api/events: one user's events, newest first, keyset-paginated.
            models.Index(fields=["user", "-created_at", "-id"], name="event_user_newest_idx"),
            # The webhook relay reads only the events it has not fanned out yet.
            models.Index(
                fields=["created_at"], name="event_webhooks_pending_idx", condition=models.Q(webhooks_pending=True)
            ),
            # The retention purge (EVENT_RETENTION_DAYS).
            models.Index(fields=["created_at"], name="event_created_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(type__in=EventType.values), name="event_type_valid"),
        ]

    def __str__(self):
        return f"{self.type} for {self.user_id}"
