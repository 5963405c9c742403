from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.money import MAX_AMOUNT_TEXT_LENGTH, format_minor, parse_amount
from accounts.serializers import MONEY_SCHEMA, InstantField, MoneyField, OwnMoneyField
from authn.models import no_control_characters
from ledger_project import fields
from ledger_project.metadata import MetadataErrorsMixin, MetadataField
from ledger_project.schema import ErrorSerializer

from .exceptions import DECLINES
from .models import Hold, Transaction


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


class TransferInputSerializer(MetadataErrorsMixin, serializers.Serializer):
    fromAccount = AccountIdField()
    toAccount = AccountIdField()
    amount = AmountField()
    idempotencyKey = idempotency_key_field(required=False)
    metadata = MetadataField()


class BatchItemInputSerializer(MetadataErrorsMixin, serializers.Serializer):
    fromAccount = AccountIdField()
    toAccount = AccountIdField()
    amount = AmountField()
    reference = fields.CharField(
        max_length=64, required=False, validators=[no_control_characters], help_text="Unique within the batch."
    )
    metadata = MetadataField()


class BatchTransfersField(serializers.ListField):
    """1..BATCH_MAX_TRANSFERS items; the count is checked before any item is (a body within the
    size limit holds at most a little over the maximum, but none of them need be read)."""

    child = BatchItemInputSerializer()

    def to_internal_value(self, data):
        if isinstance(data, list) and not 1 <= len(data) <= settings.BATCH_MAX_TRANSFERS:
            raise serializers.ValidationError(f"Send from 1 to {settings.BATCH_MAX_TRANSFERS} transfers.")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON true or false only (DRF's BooleanField also takes "yes", 1, "on")."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class BatchInputSerializer(serializers.Serializer):
    idempotencyKey = idempotency_key_field(required=False)
    atomic = StrictBooleanField(required=False, default=True)
    transfers = BatchTransfersField()

    def validate_transfers(self, items):
        seen = set()
        for index, item in enumerate(items):
            reference = item.get("reference")
            if reference is not None and reference in seen:
                raise serializers.ValidationError({index: {"reference": ["Must be unique within the batch."]}})
            seen.add(reference)
        return items


def flat_errors(errors, prefix="") -> dict:
    """DRF's nested errors as API.md's flat names: `{"transfers": {3: {"amount": [...]}}}` is
    `{"transfers[3].amount": [...]}`."""
    if not isinstance(errors, dict):
        return {prefix: list(errors)}
    flat = {}
    for name, value in errors.items():
        key = f"{prefix}[{name}]" if isinstance(name, int) else (f"{prefix}.{name}" if prefix else str(name))
        flat.update(flat_errors(value, key))
    return flat


class FundingInputSerializer(MetadataErrorsMixin, serializers.Serializer):
    toAccount = AccountIdField()
    amount = AmountField()
    idempotencyKey = idempotency_key_field(required=False)
    metadata = MetadataField()


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


METADATA_SCHEMA = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "nullable": True,
    "description": "Null unless the caller initiated it: the other side sees nothing of it.",
}


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
    hold = serializers.UUIDField(source="hold_id", allow_null=True, help_text="The hold this transaction captured.")
    batch = serializers.UUIDField(source="batch_id", allow_null=True, help_text="The batch it was an item of.")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    entries = EntrySummarySerializer(many=True, source="entry_list")
    metadata = serializers.SerializerMethodField()

    @extend_schema_field({"type": "string", "nullable": True, "description": "Null unless the caller initiated it."})
    def get_idempotencyKey(self, txn):
        # A batch item has no key of its own (its batch has it).
        if txn.idempotency_id is None or txn.initiator_id != self.context["viewer"].id:
            return None
        return txn.idempotency.key

    @extend_schema_field(METADATA_SCHEMA)
    def get_metadata(self, txn):
        return txn.metadata if txn.initiator_id == self.context["viewer"].id else None

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


BALANCES_SCHEMA = {
    "type": "object",
    "description": "Each account of the caller's that the write touched, by id.",
    "additionalProperties": {
        "type": "object",
        "properties": {name: {"type": "string", "example": "500.00"} for name in ("balance", "held", "available")},
    },
}


@extend_schema_field(BALANCES_SCHEMA)
class BalancesField(serializers.DictField):
    """`balances` as transactions.declines.balances_json built it (documented, not re-rendered)."""


class TransactionWrittenSerializer(TransactionMessageSerializer):
    balances = BalancesField()


class DeclineDetailsSerializer(ErrorSerializer):
    details = serializers.DictField(required=False, help_text="About the caller's own accounts only.")


class TransactionDeclineSerializer(DeclineDetailsSerializer, DeclineOutputSerializer):
    """A 422 decline with `details` (about the caller's own accounts only) where there are any."""


class ExpiresInField(serializers.IntegerField):
    """Whole seconds as a JSON integer (not a string, a fraction or a boolean)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class HoldCreateInputSerializer(TransferInputSerializer):
    expiresIn = ExpiresInField(
        required=False, help_text="Seconds until the hold expires: 60..2592000, default 604800 (7 days)."
    )

    def validate_expiresIn(self, value):
        low, high = settings.HOLD_MIN_EXPIRES_IN_SECONDS, settings.HOLD_MAX_EXPIRES_IN_SECONDS
        if not low <= value <= high:
            raise serializers.ValidationError(f"Enter a whole number of seconds from {low} to {high}.")
        return value


class HoldCaptureInputSerializer(serializers.Serializer):
    idempotencyKey = idempotency_key_field(required=False)
    amount = AmountField(required=False, help_text="At most the hold's amount; the whole hold if absent.")


class HoldVoidInputSerializer(serializers.Serializer):
    idempotencyKey = idempotency_key_field(required=False)


class HoldFilterSerializer(serializers.Serializer):
    account = serializers.UUIDField(required=False)
    status = serializers.ChoiceField(choices=Hold.Status.values, required=False)


class HoldOutputSerializer(serializers.Serializer):
    """A hold as `context["viewer"]` may see it: the key only for its creator. A PENDING hold past
    its expiry shows as EXPIRED: it counts for nothing even before beat sweeps it."""

    id = serializers.UUIDField()
    fromAccount = serializers.UUIDField(source="from_account_id")
    toAccount = serializers.UUIDField(source="to_account_id")
    amount = MoneyField()
    capturedAmount = serializers.SerializerMethodField()
    currency = serializers.CharField()
    status = serializers.SerializerMethodField()
    expiresAt = serializers.DateTimeField(source="expires_at")
    idempotencyKey = serializers.SerializerMethodField()
    failureReason = serializers.SerializerMethodField()
    transaction = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    metadata = serializers.SerializerMethodField()

    @extend_schema_field(METADATA_SCHEMA)
    def get_metadata(self, hold):
        return hold.metadata if hold.initiator_id == self.context["viewer"].id else None

    @extend_schema_field({**MONEY_SCHEMA, "nullable": True})
    def get_capturedAmount(self, hold):
        return format_minor(hold.captured_amount, hold.currency) if hold.captured_amount is not None else None

    @extend_schema_field({"type": "string", "enum": Hold.Status.values})
    def get_status(self, hold):
        return hold.effective_status(timezone.now())

    @extend_schema_field({"type": "string", "nullable": True, "description": "Null unless the caller created it."})
    def get_idempotencyKey(self, hold):
        return hold.idempotency.key if hold.initiator_id == self.context["viewer"].id else None

    @extend_schema_field({"type": "string", "nullable": True, "enum": [*DECLINES, None]})
    def get_failureReason(self, hold):
        return hold.failure_reason or None

    @extend_schema_field({"type": "string", "format": "uuid", "nullable": True, "description": "The capture's."})
    def get_transaction(self, hold):
        capture_id = getattr(hold, "capture_id", None)
        return str(capture_id) if capture_id else None


class HoldWrapperSerializer(serializers.Serializer):
    hold = HoldOutputSerializer()


class HoldWrittenSerializer(serializers.Serializer):
    message = serializers.CharField()
    hold = HoldOutputSerializer()
    balances = BalancesField()


class HoldCapturedSerializer(HoldWrittenSerializer):
    transaction = TransactionOutputSerializer()


class HoldDeclineSerializer(DeclineDetailsSerializer):
    """A 422 decline of a new hold: the FAILED hold it recorded, and `details` where any."""

    hold = HoldOutputSerializer(required=False)


class BatchOutputSerializer(serializers.Serializer):
    """A batch as its answer shows it (documented here; rendered by transactions.batches)."""

    id = serializers.UUIDField()
    atomic = serializers.BooleanField()
    status = serializers.ChoiceField(choices=["COMPLETED", "PARTIAL", "FAILED"])
    count = serializers.IntegerField()
    transactions = TransactionOutputSerializer(many=True, required=False, help_text="Atomic batches.")
    results = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="Non-atomic batches: {index, reference, status: 201 | 422, transaction | error} per item.",
    )


class BatchWrittenSerializer(serializers.Serializer):
    message = serializers.CharField()
    batch = BatchOutputSerializer()
    balances = BalancesField()


class BatchWrapperSerializer(serializers.Serializer):
    batch = BatchOutputSerializer()


STATEMENT_MAX_DAYS = 366  # API.md, "Metadata and statements"


class StatementQueryBase(serializers.Serializer):
    def validate(self, attrs):
        if attrs["to"] <= attrs["from"]:
            raise serializers.ValidationError({"to": ["Must be after from."]})
        if attrs["to"] - attrs["from"] > timedelta(days=STATEMENT_MAX_DAYS):
            raise serializers.ValidationError({"to": [f"A statement covers at most {STATEMENT_MAX_DAYS} days."]})
        return attrs


# `from` is a Python keyword, so the fields are given by name.
StatementQuerySerializer = type(
    "StatementQuerySerializer",
    (StatementQueryBase,),
    {
        "__doc__": "The period [from, to): RFC 3339 instants, at most STATEMENT_MAX_DAYS (366) days apart.",
        "from": InstantField(help_text="The period's first instant (included)."),
        "to": InstantField(help_text="The instant the period ends (excluded)."),
    },
)


# `from` is a Python keyword, so the class is built from its fields by name (DRF keeps the order
# in which the fields were made). The view passes the Statement's attributes with `page` (the
# entries of this page) and `next_link`.
StatementOutputSerializer = type(
    "StatementOutputSerializer",
    (serializers.Serializer,),
    {
        "__doc__": "A statement: opening + totalCredits - totalDebits = closing; its entries oldest first.",
        "accountId": serializers.UUIDField(source="account.id"),
        "currency": serializers.CharField(source="account.currency"),
        "from": serializers.DateTimeField(source="start"),
        "to": serializers.DateTimeField(source="end"),
        "openingBalance": MoneyField(source="opening", currency_source="account.currency"),
        "closingBalance": MoneyField(source="closing", currency_source="account.currency"),
        "totalCredits": MoneyField(source="credits", currency_source="account.currency"),
        "totalDebits": MoneyField(source="debits", currency_source="account.currency"),
        "count": serializers.IntegerField(help_text="Entries in the period (all pages)."),
        "entries": LedgerEntryOutputSerializer(many=True, source="page"),
        "next": serializers.URLField(source="next_link", allow_null=True),
    },
)
