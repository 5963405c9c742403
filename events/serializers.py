from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import Event, EventType

# `transaction.*` and the like: every type of one family.
FAMILIES = sorted({f"{value.split('.')[0]}.*" for value in EventType.values})


class EventFilterSerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=[*EventType.values, *FAMILIES],
        required=False,
        help_text="One type, or a family such as `transaction.*`.",
    )
    after = serializers.UUIDField(
        required=False, help_text="One of your event ids: only the events newer than it (for catching up)."
    )


class EventOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")
    data = serializers.SerializerMethodField()

    @extend_schema_field(
        {"type": "object", "description": "The object (transaction, hold, account, batch) as the API shows it to you."}
    )
    def get_data(self, event: Event) -> dict:
        return event.data


class EventWrapperSerializer(serializers.Serializer):
    event = EventOutputSerializer()
