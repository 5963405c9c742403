from datetime import UTC

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import get_attribute

from ledger_project import fields
from ledger_project.metadata import MetadataErrorsMixin, MetadataField

from .limits import limits_json
from .models import LIMIT_FIELDS
from .money import format_minor

MONEY_SCHEMA = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "example": "500.00"}


def viewer_owns(context: dict, account) -> bool:
    """Whether the caller (`context["viewer"]`, set by the view) owns `account`. Compares ids
    already loaded, so deciding costs no query; a serializer given no viewer fails loudly
    rather than show everything."""
    return account.owner_id == context["viewer"].id


@extend_schema_field(MONEY_SCHEMA)
class MoneyField(serializers.Field):
    """Minor units out as a decimal string with the currency's places. The currency is read from
    the same object (`currency_source`, a dotted path) so every amount carries its own."""

    def __init__(self, *, currency_source="currency", **kwargs):
        self.currency_source = currency_source.split(".")
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        return format_minor(super().get_attribute(instance), get_attribute(instance, self.currency_source))

    def to_representation(self, value):
        return value


@extend_schema_field({**MONEY_SCHEMA, "nullable": True, "description": "Null unless the caller owns the account."})
class OwnMoneyField(MoneyField):
    """An amount only the account's owner may see (a balance): anyone else gets null, since what
    a caller sees of an account it does not own is its id. `account_source` is a dotted path."""

    def __init__(self, *, account_source="account", **kwargs):
        self.account_source = account_source.split(".")
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        if not viewer_owns(self.context, get_attribute(instance, self.account_source)):
            return None
        return super().get_attribute(instance)


class AccountOpenInputSerializer(MetadataErrorsMixin, serializers.Serializer):
    # Only the currency and labels are the client's to choose; owner, status and balance are not (API3).
    currency = fields.CharField(max_length=3, required=False)
    metadata = MetadataField()


class AccountMetadataInputSerializer(MetadataErrorsMixin, serializers.Serializer):
    """`PATCH /api/accounts/{id}`: the whole metadata object, replacing the one stored."""

    metadata = MetadataField(required=True)

    def validate(self, attrs):
        # Only the labels change here; a body naming anything else (a balance, a status) is a
        # mistake worth a 400, not a silent partial success.
        others = sorted(set(self.initial_data) - {"metadata"})
        if others:
            raise serializers.ValidationError({name: ["Only metadata can be changed here."] for name in others})
        return attrs


class AccountOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    currency = serializers.CharField()
    balance = MoneyField()
    held = MoneyField(help_text="The PENDING holds on it.")
    available = MoneyField(help_text="What it can spend now: balance − held + overdraft limit.")
    # Only the owner is ever shown an account's JSON (account_get filters by owner).
    limits = serializers.SerializerMethodField()
    metadata = MetadataField(read_only=True)
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    @extend_schema_field(
        {
            "type": "object",
            "description": "Limits set by operators: amounts as decimal strings, dailyDebitCount a number; null = none.",
            "properties": {name: {"type": ["string", "integer", "null"]} for name in LIMIT_FIELDS.values()},
        }
    )
    def get_limits(self, account) -> dict:
        return limits_json(account)


class AccountLimitsInputSerializer(serializers.Serializer):
    """Any of the limits (JSON names); null clears one. Values are parsed in the account's
    currency by the service (accounts.limits.limit_parse), which knows it."""

    def to_internal_value(self, data):
        if not isinstance(data, dict) or not data:
            raise serializers.ValidationError({"limits": ["Send an object with at least one limit."]})
        columns = {json_name: column for column, json_name in LIMIT_FIELDS.items()}
        unknown = sorted(set(data) - set(columns))
        if unknown:
            raise serializers.ValidationError({name: ["Not a limit."] for name in unknown})
        return {columns[name]: value for name, value in data.items()}


class AccountLimitsOutputSerializer(serializers.Serializer):
    accountId = serializers.UUIDField(source="id")
    currency = serializers.CharField()
    limits = serializers.SerializerMethodField()

    def get_limits(self, account) -> dict:
        return limits_json(account)


class AccountWrapperSerializer(serializers.Serializer):
    account = AccountOutputSerializer()


INSTANT_MESSAGE = "Enter an RFC 3339 date-time with its offset, e.g. 2026-01-31T00:00:00Z (in a URL, + is %2B)."


@extend_schema_field({"type": "string", "format": "date-time", "example": "2026-01-31T00:00:00Z"})
class InstantField(serializers.Field):
    """An RFC 3339 date-time, offset required (a time without one names no instant), as UTC."""

    def to_internal_value(self, data):
        parsed = None
        if isinstance(data, str) and len(data) <= 64:
            try:
                parsed = parse_datetime(data)
            except ValueError:
                parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise serializers.ValidationError(INSTANT_MESSAGE)
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:  # 0001-01-01T00:00:00+01:00 is before datetime's range
            raise serializers.ValidationError(INSTANT_MESSAGE) from exc


class BalanceAsOfSerializer(serializers.Serializer):
    asOf = InstantField(required=False, help_text="The balance right after the last entry at or before it.")


class AccountBalanceAsOfOutputSerializer(serializers.Serializer):
    """`?asOf=`: the posted balance then; held and available are today's, so they are left out."""

    accountId = serializers.UUIDField(source="account.id")
    balance = MoneyField(currency_source="account.currency")
    currency = serializers.CharField(source="account.currency")
    asOf = serializers.DateTimeField(source="instant")


class AccountBalanceOutputSerializer(serializers.Serializer):
    accountId = serializers.UUIDField(source="id")
    balance = MoneyField()
    held = MoneyField()
    available = MoneyField()
    currency = serializers.CharField()
