import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone


class DisabledReason(models.TextChoices):
    GONE = "gone"  # the receiver answered 410
    FAILING = "failing"  # every attempt failed for WEBHOOK_RETRY_WINDOW_SECONDS
    OWNER = "owner"  # PATCH {enabled: false}


class WebhookEndpoint(models.Model):
    """A URL of one user's that receives that user's events matching `events` (patterns such as
    `transaction.*`, API.md "Events and webhooks").

    The signing secret is stored only encrypted (webhooks.keys, WEBHOOK_SECRET_KEYS), so a
    database dump alone cannot sign. After a rotation the previous secret signs too until
    `previous_secret_expires_at`. A disabled endpoint receives nothing until its owner enables it.
    """

    DisabledReason = DisabledReason

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.CharField(max_length=2000)
    events = ArrayField(models.CharField(max_length=40))
    description = models.CharField(max_length=500, blank=True, default="")
    secret_encrypted = models.TextField()
    previous_secret_encrypted = models.TextField(blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=20, choices=DisabledReason.choices, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    # The first failure since the last success: when it is WEBHOOK_RETRY_WINDOW_SECONDS old and the
    # endpoint still fails, it is disabled and its owner emailed.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"], name="webhook_endpoint_user_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(enabled=True, disabled_reason="", disabled_at__isnull=True)
                | models.Q(enabled=False, disabled_at__isnull=False) & ~models.Q(disabled_reason=""),
                name="webhook_endpoint_disabled_has_reason",
            ),
            models.CheckConstraint(
                condition=models.Q(disabled_reason__in=["", *DisabledReason.values]),
                name="webhook_endpoint_disabled_reason_valid",
            ),
        ]

    def __str__(self):
        return f"{self.url} ({self.user_id})"


class WebhookDeliveryQuerySet(models.QuerySet):
    def due(self, now):
        """Deliveries to hand to a worker at `now` (a delivery just handed over is leased until
        its next_attempt_at), of endpoints still enabled."""
        return self.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now, endpoint__enabled=True)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookDelivery(models.Model):
    """One message to one endpoint: an event (or a test message) and its attempts.

    It ends DELIVERED (a 2xx within WEBHOOK_TIMEOUT_SECONDS) or FAILED (out of its retry window,
    410, or its endpoint disabled), never both; until then `next_attempt_at` says when it is due,
    and a handed-over delivery is leased until then. `message_id` is the `webhook-id` header: the
    event's id, the same on every attempt and every redelivery, so receivers de-duplicate on it.
    """

    Status = DeliveryStatus

    class Trigger(models.TextChoices):
        EVENT = "event"
        REDELIVERY = "redelivery"
        TEST = "test"

    TEST_EVENT_TYPE = "webhook.test"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    # Null only for a test message (POST /api/webhooks/{id}/test), which is no event.
    event = models.ForeignKey("events.Event", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    message_id = models.CharField(max_length=64)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.EVENT)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_default=Now())
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    # Set by the relay when it hands the delivery to a worker, cleared by the attempt: a message
    # whose lease is not the delivery's (a duplicate, or one redelivered after the relay handed
    # the delivery over again) sends nothing.
    lease = models.UUIDField(null=True, blank=True)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        indexes = [
            # The relay reads only the deliveries still pending, the longest-waiting first.
            models.Index(
                fields=["next_attempt_at"], name="webhook_delivery_due_idx", condition=models.Q(status="pending")
            ),
            models.Index(fields=["created_at"], name="webhook_delivery_created_idx"),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=DeliveryStatus.values), name="webhook_delivery_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(status="pending", delivered_at__isnull=True, failed_at__isnull=True)
                | models.Q(status="delivered", delivered_at__isnull=False, failed_at__isnull=True)
                | models.Q(status="failed", delivered_at__isnull=True, failed_at__isnull=False),
                name="webhook_delivery_outcome_matches_status",
            ),
            models.CheckConstraint(
                condition=models.Q(event__isnull=False) | models.Q(trigger="test"),
                name="webhook_delivery_event_unless_test",
            ),
        ]

    def __str__(self):
        return f"{self.message_id} → {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery and what came of it: the status code (null when no answer
    came), the time it took, the first KB of the answer and the error, if any."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_rows")
    # Denormalized from the delivery: GET /api/webhooks/{id}/deliveries pages attempts per endpoint.
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField()
    response_body = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["endpoint", "-attempted_at", "-id"], name="webhook_attempt_endpoint_idx"),
            models.Index(fields=["attempted_at"], name="webhook_attempt_time_idx"),
        ]

    def __str__(self):
        return f"{self.delivery_id} at {self.attempted_at}: {self.status_code or self.error}"
