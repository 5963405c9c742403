from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ledger_project import fields

from .money import format_minor


@extend_schema_field({"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "example": "500.00"})
class MoneyField(serializers.Field):
    """Minor units out as a decimal string with the currency's places. The currency is read from
    the same object (`currency_source`, a dotted path) so every amount carries its own."""

    def __init__(self, *, currency_source="currency", **kwargs):
        self.currency_source = currency_source.split(".")
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        currency = instance
        for attr in self.currency_source:
            currency = getattr(currency, attr)
        return format_minor(super().get_attribute(instance), currency)

    def to_representation(self, value):
        return value


class AccountOpenInputSerializer(serializers.Serializer):
    # Only the currency is the client's to choose; owner, status and balance are not (API3).
    currency = fields.CharField(max_length=3, required=False)


class AccountOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    currency = serializers.CharField()
    balance = MoneyField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


class AccountWrapperSerializer(serializers.Serializer):
    account = AccountOutputSerializer()


class AccountListOutputSerializer(serializers.Serializer):
    accounts = AccountOutputSerializer(many=True)


class AccountBalanceOutputSerializer(serializers.Serializer):
    accountId = serializers.UUIDField(source="id")
    balance = MoneyField()
    currency = serializers.CharField()
