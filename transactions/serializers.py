from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.money import MAX_AMOUNT_TEXT_LENGTH, parse_amount
from accounts.serializers import MoneyField, OwnMoneyField
from authn.models import no_control_characters
from ledger_project import fields
from ledger_project.schema import ErrorSerializer

from .exceptions import DECLINES
from .models import Transaction


@extend_schema_field(
    {
        "oneOf": [
            # Plain positive decimal text; places beyond the currency's, or above the limit, are 400.
            {
                "type": "string",
                "pattern": r"^([1-9][0-9]*(\.[0-9]+)?|0\.[0-9]*[1-9][0-9]*)$",
                "maxLength": MAX_AMOUNT_TEXT_LENGTH,
                "example": "500.50",
            },
            {"type": "number", "minimum": 0, "exclusiveMinimum": True, "example": 500.5},
        ]
    }
)
class AmountField(serializers.Field):
    """A positive amount, read exactly (see accounts.money.parse_amount); never a float."""

    def to_internal_value(self, data):
        try:
            return parse_amount(data)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class AccountIdField(serializers.UUIDField):
    """A UUID given as a string; DRF's UUIDField would also take a JSON integer as UUID(int=...)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


def idempotency_key_field(**kwargs):
    return fields.CharField(max_length=255, trim_whitespace=False, validators=[no_control_characters], **kwargs)


class TransferInputSerializer(serializers.Serializer):
    fromAccount = AccountIdField()
    toAccount = AccountIdField()
    amount = AmountField()
    idempotencyKey = idempotency_key_field(required=False)


class FundingInputSerializer(serializers.Serializer):
    toAccount = AccountIdField()
    amount = AmountField()
    idempotencyKey = idempotency_key_field(required=False)


class ReverseInputSerializer(serializers.Serializer):
    idempotencyKey = idempotency_key_field(required=False)
    reason = fields.CharField(max_length=500, required=False, allow_blank=True, default="")


class TransactionFilterSerializer(serializers.Serializer):
    account = serializers.UUIDField(required=False)
    status = serializers.ChoiceField(choices=Transaction.Status.values, required=False)


class EntrySummarySerializer(serializers.Serializer):
    account = serializers.UUIDField(source="account_id")
    type = serializers.CharField()
    amount = MoneyField(currency_source="transaction.currency")
    balanceAfter = OwnMoneyField(source="balance_after", currency_source="transaction.currency")


class TransactionOutputSerializer(serializers.Serializer):
    """A transaction as `context["viewer"]` may see it: the other side's balance and another
    user's idempotency key are null (the keys stay, so the shape never depends on who asks)."""

    id = serializers.UUIDField()
    kind = serializers.CharField()
    fromAccount = serializers.UUIDField(source="from_account_id")
    toAccount = serializers.UUIDField(source="to_account_id")
    amount = MoneyField()
    currency = serializers.CharField()
    status = serializers.CharField()
    idempotencyKey = serializers.SerializerMethodField()
    failureReason = serializers.SerializerMethodField()
    reverses = serializers.UUIDField(source="reverses_id", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    entries = EntrySummarySerializer(many=True, source="entry_list")

    @extend_schema_field({"type": "string", "nullable": True, "description": "Null unless the caller initiated it."})
    def get_idempotencyKey(self, txn):
        return txn.idempotency.key if txn.initiator_id == self.context["viewer"].id else None

    @extend_schema_field({"type": "string", "nullable": True, "enum": [*DECLINES, None]})
    def get_failureReason(self, txn):
        return txn.failure_reason or None


class TransactionMessageSerializer(serializers.Serializer):
    message = serializers.CharField()
    transaction = TransactionOutputSerializer()


class DeclineOutputSerializer(ErrorSerializer):
    """A 422: the error, and the FAILED transaction when one was recorded (not for a reused key)."""

    transaction = TransactionOutputSerializer(required=False)


class TransactionWrapperSerializer(serializers.Serializer):
    transaction = TransactionOutputSerializer()


class LedgerEntryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    transaction = serializers.UUIDField(source="transaction_id")
    type = serializers.CharField()
    amount = MoneyField(currency_source="account.currency")
    balanceAfter = MoneyField(source="balance_after", currency_source="account.currency")
    createdAt = serializers.DateTimeField(source="created_at")
