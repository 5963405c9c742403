from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.money import format_minor
from accounts.selectors import account_get
from authn.exceptions import NotSystemUserError
from ledger_project.exceptions import InvalidInputError
from ledger_project.metadata import metadata_filters
from ledger_project.pagination import KeysetPagination
from ledger_project.schema import error_responses
from ledger_project.throttling import ScopedRateThrottle

from . import serializers as s
from .admin_export import export_response
from .batches import BatchItem, batch_create, batch_json
from .declines import balances_json, decline_details
from .exceptions import (
    DECLINES,
    AccountInactiveError,
    AlreadyReversedError,
    AmountOutOfRangeError,
    BatchDeclinedError,
    CurrencyMismatchError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    InvalidAccountError,
    NotReversibleError,
    SameAccountError,
)
from .models import Transaction
from .selectors import (
    Statement,
    account_statement,
    batch_get,
    ledger_entry_list,
    transaction_accounts,
    transaction_get,
    transaction_list,
)
from .services import LedgerWrite, funding_create, transaction_reverse, transfer_create

TRANSFER_COMPLETED = "Transaction completed successfully"
FUNDING_COMPLETED = "Initial funds transaction completed successfully"
REVERSAL_COMPLETED = "Transaction reversed successfully"
REPLAYED = "Transaction already processed"
REPLAYED_REVERSED = "Transaction was reversed"

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, description="Instead of the body's idempotencyKey."
)


def idempotency_key(request, validated_data) -> str:
    """The key from the body or the Idempotency-Key header; both present must agree."""
    body_key = validated_data.get("idempotencyKey")
    header_key = _idempotency_header(request)
    if body_key and header_key and body_key != header_key:
        raise InvalidInputError(
            "The Idempotency-Key header and the body's idempotencyKey differ.",
            errors={"idempotencyKey": ["Does not match the Idempotency-Key header."]},
        )
    key = body_key or header_key
    if not key:
        raise InvalidInputError(
            errors={"idempotencyKey": ["This field is required (or send the Idempotency-Key header)."]}
        )
    return key


def _idempotency_header(request) -> str | None:
    """The Idempotency-Key header, held to the body key's rules: one field validates both, so a
    TAB or any other control character is refused in either."""
    header_key = request.headers.get("Idempotency-Key")
    if header_key is None:
        return None
    try:
        return s.idempotency_key_field().run_validation(header_key)
    except ValidationError as exc:
        raise InvalidInputError(errors={"idempotencyKey": exc.detail}) from exc


def ledger_write_response(request, result: LedgerWrite, *, created_message: str) -> Response:
    """201 for a new transaction, 200 for a replay, and a decline's 422 (first time or replayed)
    with the FAILED transaction in the body."""
    txn = result.transaction
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    # A new write serialized the transaction for each user's event already; a replay has not.
    body = getattr(txn, "views", {}).get(request.user.id)
    if body is None:
        body = s.TransactionOutputSerializer(txn, context={"viewer": request.user}).data
    # A new write answers from its locked rows; only a replay reads the accounts again.
    debit, credit = result.accounts or transaction_accounts(txn)
    if txn.status == Transaction.Status.FAILED:
        details = decline_details(
            txn.failure_reason, debit=debit, credit=credit, amount=txn.amount, viewer=request.user
        )
        extra = {"transaction": body, **({"details": details} if details else {})}
        raise DECLINES[txn.failure_reason](extra=extra, headers=headers)
    balances = balances_json((debit, credit), viewer=request.user)
    if not result.replayed:
        return Response(
            {"message": created_message, "transaction": body, "balances": balances}, status=status.HTTP_201_CREATED
        )
    message = REPLAYED_REVERSED if txn.status == Transaction.Status.REVERSED else REPLAYED
    return Response({"message": message, "transaction": body, "balances": balances}, headers=headers)


# What a ledger write can answer besides its 201/200; declines carry the FAILED transaction.
WRITTEN = {201: s.TransactionWrittenSerializer, 200: s.TransactionWrittenSerializer}
DECLINED = error_responses(
    InsufficientFundsError,
    AccountInactiveError,
    AmountOutOfRangeError,
    IdempotencyKeyReusedError,
    serializer=s.TransactionDeclineSerializer,
)


class TransactionPagination(KeysetPagination):
    ordering = ("-created_at", "-id")
    items_key = "transactions"


class EntryPagination(KeysetPagination):
    ordering = ("-id",)
    items_key = "entries"


class StatementPagination(KeysetPagination):
    """A statement reads forward from its opening balance: oldest first, keyset on the id."""

    ordering = ("id",)
    items_key = "entries"


class CsvRenderer(BaseRenderer):
    """Lets content negotiation choose CSV (`Accept: text/csv` or `?format=csv`) on the statement
    route, which then streams the rows itself; errors stay JSON (AccountStatementApi)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        raise TypeError("the statement streams its CSV; nothing is rendered through this")


STATEMENT_CSV_HEADER = ["id", "createdAt", "transaction", "type", "amount", "currency", "balanceAfter"]
STATEMENT_CSV_CHUNK = 2000  # entries per query: the stream holds one chunk, never the period


def statement_csv_rows(statement: Statement):
    """The header and one row per entry of the period, oldest first, read in keyset chunks (a
    server-side cursor would hold a pooled connection's transaction open while the client reads)."""
    yield STATEMENT_CSV_HEADER
    currency, after = statement.account.currency, 0
    while True:
        chunk = list(statement.entries.filter(id__gt=after).order_by("id")[:STATEMENT_CSV_CHUNK])
        for entry in chunk:
            yield [
                entry.id,
                entry.created_at.isoformat().replace("+00:00", "Z"),
                entry.transaction_id,
                entry.type,
                format_minor(entry.amount, currency),
                currency,
                format_minor(entry.balance_after, currency),
            ]
        if len(chunk) < STATEMENT_CSV_CHUNK:
            return
        after = chunk[-1].id


class TransferCreateApi(APIView):
    throttle_scope = "transfer"
    throttle_classes = [ScopedRateThrottle]

    @extend_schema(
        request=s.TransferInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            **WRITTEN,
            **error_responses(InvalidAccountError, SameAccountError, CurrencyMismatchError),
            **DECLINED,
        },
    )
    def post(self, request):
        serializer = s.TransferInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = transfer_create(
            initiator=request.user,
            from_account_id=data["fromAccount"],
            to_account_id=data["toAccount"],
            amount=data["amount"],
            idempotency_key=idempotency_key(request, data),
            metadata=data["metadata"],
        )
        return ledger_write_response(request, result, created_message=TRANSFER_COMPLETED)


def filtered_page_response(view, request, *, filters_class, selector, output_class) -> Response:
    """A list route's GET (transactions, holds): `?account=`, `?status=` and `?metadata[key]=`
    validated, the selector's rows for the caller, one cursor page of them as the caller may see them."""
    metadata = metadata_filters(request.query_params)
    # A plain dict, not the QueryDict: DRF reads `?status=` from a form-like QueryDict as absent.
    filters = filters_class(data=request.query_params.dict())
    filters.is_valid(raise_exception=True)
    queryset = selector(
        user=request.user,
        account_id=filters.validated_data.get("account"),
        status=filters.validated_data.get("status"),
        metadata=metadata,
    )
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(output_class(page, many=True, context={"viewer": request.user}).data)


class TransactionListApi(APIView):
    pagination_class = TransactionPagination

    @extend_schema(
        parameters=[s.TransactionFilterSerializer], responses={200: s.TransactionOutputSerializer(many=True)}
    )
    def get(self, request):
        return filtered_page_response(
            self,
            request,
            filters_class=s.TransactionFilterSerializer,
            selector=transaction_list,
            output_class=s.TransactionOutputSerializer,
        )


# `/api/transactions`: GET lists, POST transfers. One URL needs one view; the two operations stay
# findable by name above. (A comment, not a docstring: the schema would show it on both.)
class TransactionsApi(TransferCreateApi, TransactionListApi):
    def get_throttles(self):
        # Only moving money is rate limited per user; reading the list is not.
        return super().get_throttles() if self.request.method == "POST" else []


class FundingCreateApi(APIView):
    @extend_schema(
        request=s.FundingInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={**WRITTEN, **error_responses(InvalidAccountError, SameAccountError, NotSystemUserError), **DECLINED},
    )
    def post(self, request):
        serializer = s.FundingInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = funding_create(
            initiator=request.user,
            to_account_id=data["toAccount"],
            amount=data["amount"],
            idempotency_key=idempotency_key(request, data),
            metadata=data["metadata"],
        )
        return ledger_write_response(request, result, created_message=FUNDING_COMPLETED)


class TransactionReverseApi(APIView):
    @extend_schema(
        request=s.ReverseInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            **WRITTEN,
            **error_responses(NotSystemUserError, AlreadyReversedError, NotReversibleError),
            **DECLINED,
        },
    )
    def post(self, request, transaction_id):
        serializer = s.ReverseInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = transaction_reverse(
            initiator=request.user,
            transaction_id=transaction_id,
            idempotency_key=idempotency_key(request, data),
            reason=data["reason"],
        )
        return ledger_write_response(request, result, created_message=REVERSAL_COMPLETED)


class TransactionDetailApi(APIView):
    @extend_schema(responses={200: s.TransactionWrapperSerializer})
    def get(self, request, transaction_id):
        txn = transaction_get(user=request.user, transaction_id=transaction_id)
        data = s.TransactionOutputSerializer(txn, context={"viewer": request.user}).data
        return Response({"transaction": data})


class AccountStatementApi(APIView):
    """The owner's statement of one account for a period, as JSON (one page of entries) or CSV
    (every entry of the period, streamed)."""

    pagination_class = StatementPagination
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        parameters=[
            s.StatementQuerySerializer,
            OpenApiParameter("cursor", str, description="The `next` link's cursor; only cursors this API issued."),
            OpenApiParameter("limit", int, description="Entries per page, 1..200 (default 50)."),
            OpenApiParameter("format", str, enum=["json", "csv"], description="csv: every entry of the period."),
        ],
        responses={200: s.StatementOutputSerializer, (200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request, account_id):
        query = s.StatementQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        account = account_get(owner=request.user, account_id=account_id)
        statement = account_statement(
            account=account, start=query.validated_data["from"], end=query.validated_data["to"]
        )
        if request.accepted_renderer.format == CsvRenderer.format:
            return export_response(f"statement-{account.id}", statement_csv_rows(statement))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(statement.entries, request, view=self)
        data = {**vars(statement), "page": page, "next_link": paginator.get_next_link()}
        return Response(s.StatementOutputSerializer(data).data)

    def finalize_response(self, request, response, *args, **kwargs):
        # Errors are JSON whatever the client accepts (API.md, "Conventions").
        if isinstance(response, Response) and getattr(request, "accepted_renderer", None) is not None:
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class AccountEntryListApi(APIView):
    pagination_class = EntryPagination

    @extend_schema(responses={200: s.LedgerEntryOutputSerializer(many=True)})
    def get(self, request, account_id):
        account = account_get(owner=request.user, account_id=account_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(ledger_entry_list(account=account), request, view=self)
        return paginator.get_paginated_response(s.LedgerEntryOutputSerializer(page, many=True).data)


class BatchCreateApi(APIView):
    throttle_scope = "batch"
    throttle_classes = [ScopedRateThrottle]

    @extend_schema(
        request=s.BatchInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: s.BatchWrittenSerializer,
            200: s.BatchWrittenSerializer,
            **error_responses(InvalidAccountError, SameAccountError, CurrencyMismatchError),
            **error_responses(BatchDeclinedError, IdempotencyKeyReusedError, serializer=s.DeclineDetailsSerializer),
        },
    )
    def post(self, request):
        serializer = s.BatchInputSerializer(data=request.data)
        if not serializer.is_valid():
            raise InvalidInputError(errors=s.flat_errors(serializer.errors))
        data = serializer.validated_data
        result = batch_create(
            initiator=request.user,
            items=[
                BatchItem(
                    item["fromAccount"], item["toAccount"], item["amount"], item.get("reference"), item["metadata"]
                )
                for item in data["transfers"]
            ],
            atomic=data["atomic"],
            idempotency_key=idempotency_key(request, data),
        )
        # A replay answers what the first request was answered, word for word (its stored body).
        headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
        if result.status == BatchDeclinedError.status_code:
            raise BatchDeclinedError(extra={"details": result.body["details"]}, headers=headers)
        return Response(result.body, status=result.status, headers=headers)


class BatchDetailApi(APIView):
    @extend_schema(responses={200: s.BatchWrapperSerializer})
    def get(self, request, batch_id):
        batch, transactions = batch_get(user=request.user, batch_id=batch_id)
        return Response({"batch": batch_json(batch, transactions, viewer=request.user)})
