from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ledger_project import fields

from .models import WebhookDelivery
from .services import event_pattern_valid
from .transport import UnsafeUrlError, url_check

MAX_PATTERNS = 20


@extend_schema_field(
    {"type": "array", "items": {"type": "string", "example": "transaction.*"}, "minItems": 1, "maxItems": MAX_PATTERNS}
)
class EventPatternsField(serializers.Field):
    """A list of 1..20 event types, families (`transaction.*`) or `*`. Its errors are one list of
    sentences, like every field's (API.md: `errors: {field: [messages]}`), not one per item."""

    default_error_messages = {
        "not_a_list": "Expected a list of event types or patterns.",
        "length": f"Give from 1 to {MAX_PATTERNS} event types or patterns.",
        "unknown": "Unknown event type or pattern: {pattern} (use a type, `family.*` or `*`).",
    }

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list")
        if not 1 <= len(data) <= MAX_PATTERNS:
            self.fail("length")
        for pattern in data:
            if not isinstance(pattern, str) or not event_pattern_valid(pattern):
                self.fail("unknown", pattern=str(pattern)[:50])
        return list(data)

    def to_representation(self, value):
        return list(value)


class WebhookUrlField(fields.CharField):
    """https, a host, no credentials, and not an inside IP literal; a name is resolved and its
    addresses checked at each connect (webhooks.transport), since DNS can change."""

    def __init__(self, **kwargs):
        super().__init__(max_length=2000, **kwargs)

    def to_internal_value(self, data):
        from django.conf import settings

        url = super().to_internal_value(data)
        try:
            url_check(url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_URLS)
        except UnsafeUrlError as exc:
            raise serializers.ValidationError(f"Invalid webhook URL: {exc}.") from exc
        return url


class WebhookCreateInputSerializer(serializers.Serializer):
    url = WebhookUrlField()
    events = EventPatternsField()
    description = fields.CharField(max_length=500, required=False, allow_blank=True)


class WebhookUpdateInputSerializer(serializers.Serializer):
    url = WebhookUrlField(required=False)
    events = EventPatternsField(required=False)
    description = fields.CharField(max_length=500, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Send at least one of url, events, description, enabled.")
        return attrs


class WebhookOutputSerializer(serializers.Serializer):
    """Never the secret: it is shown once, when made (create, rotate-secret)."""

    id = serializers.UUIDField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    enabled = serializers.BooleanField()
    disabledReason = serializers.CharField(source="disabled_reason", allow_null=True)
    disabledAt = serializers.DateTimeField(source="disabled_at", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["disabledReason"] = data["disabledReason"] or None
        return data


class WebhookWrapperSerializer(serializers.Serializer):
    webhook = WebhookOutputSerializer()


class WebhookWithSecretSerializer(serializers.Serializer):
    webhook = WebhookOutputSerializer()
    secret = serializers.CharField(help_text="whsec_..., shown only this once.")


class DeliveryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    webhookId = serializers.UUIDField(source="endpoint_id")
    eventId = serializers.UUIDField(source="event_id", allow_null=True)
    messageId = serializers.CharField(source="message_id")
    trigger = serializers.ChoiceField(choices=WebhookDelivery.Trigger.choices)
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices)
    attempts = serializers.IntegerField()
    nextAttemptAt = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")

    def get_nextAttemptAt(self, delivery) -> str | None:
        if delivery.status != WebhookDelivery.Status.PENDING:
            return None
        return serializers.DateTimeField().to_representation(delivery.next_attempt_at)


class DeliveryWrapperSerializer(serializers.Serializer):
    delivery = DeliveryOutputSerializer()


class DeliveriesWrapperSerializer(serializers.Serializer):
    deliveries = DeliveryOutputSerializer(many=True)


class AttemptOutputSerializer(serializers.Serializer):
    """One attempt: when, the answer's status code (null when none came in time), how long it
    took, the first KB of the answer, and the error, with its delivery."""

    id = serializers.IntegerField()
    attemptedAt = serializers.DateTimeField(source="attempted_at")
    statusCode = serializers.IntegerField(source="status_code", allow_null=True)
    durationMs = serializers.IntegerField(source="duration_ms")
    response = serializers.CharField(source="response_body")
    error = serializers.CharField(allow_null=True)
    delivery = DeliveryOutputSerializer()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["error"] = data["error"] or None
        return data
