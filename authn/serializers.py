from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ledger_project import fields

from .models import no_control_characters, normalize_email


@extend_schema_field(OpenApiTypes.EMAIL)
class EmailAddressField(fields.CharField):
    """An email address, validated and given its canonical spelling by normalize_email."""

    def to_internal_value(self, data):
        return normalize_email(super().to_internal_value(data))


class RegisterInputSerializer(serializers.Serializer):
    # Unknown fields (systemUser, isStaff, ...) are dropped by DRF: nothing can be mass-assigned.
    name = fields.CharField(max_length=150, validators=[no_control_characters])
    email = EmailAddressField(max_length=254)
    password = fields.CharField(max_length=128, trim_whitespace=False, write_only=True)


class LoginInputSerializer(serializers.Serializer):
    email = fields.CharField(max_length=254)
    password = fields.CharField(max_length=128, trim_whitespace=False, write_only=True)


class RefreshInputSerializer(serializers.Serializer):
    refresh = fields.CharField(max_length=2048)


class LogoutInputSerializer(serializers.Serializer):
    refresh = fields.CharField(max_length=2048, required=False, allow_blank=True)


class UserOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    email = serializers.EmailField()


class MeOutputSerializer(UserOutputSerializer):
    systemUser = serializers.BooleanField(source="is_system")


class SessionOutputSerializer(serializers.Serializer):
    """What register and login answer: the user and a token pair (the access token also goes
    into the `token` cookie)."""

    user = UserOutputSerializer()
    token = serializers.CharField()
    refresh = serializers.CharField()


class TokenPairOutputSerializer(serializers.Serializer):
    token = serializers.CharField()
    refresh = serializers.CharField()


class MeWrapperSerializer(serializers.Serializer):
    user = MeOutputSerializer()


class MessageOutputSerializer(serializers.Serializer):
    message = serializers.CharField()
