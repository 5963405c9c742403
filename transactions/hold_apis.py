"""`/api/holds`: authorize now, capture or void later (API.md, "Holds")."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger_project.pagination import KeysetPagination
from ledger_project.schema import error_responses
from ledger_project.throttling import ScopedRateThrottle

from . import serializers as s
from .apis import IDEMPOTENCY_HEADER, filtered_page_response, idempotency_key
from .declines import balances_json, decline_details
from .exceptions import (
    DECLINES,
    AccountInactiveError,
    AmountOutOfRangeError,
    CaptureExceedsHoldError,
    CurrencyMismatchError,
    HoldNotFoundError,
    HoldNotPendingError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    InvalidAccountError,
    SameAccountError,
)
from .holds import HoldWrite, hold_capture, hold_create, hold_void
from .models import Hold
from .selectors import hold_accounts, hold_get, hold_list

HOLD_CREATED = "Hold created successfully"
HOLD_CAPTURED = "Hold captured successfully"
HOLD_VOIDED = "Hold voided successfully"
HOLD_REPLAYED = "Hold already processed"


def hold_write_response(request, result: HoldWrite, *, message: str, created: bool) -> Response:
    """201 (or 200 for a void) for a new write, 200 with `Idempotent-Replayed` for a replay, and a
    new hold's decline as its 422 with the FAILED hold, first time or replayed."""
    hold, viewer = result.hold, request.user
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    # A new write answers from its locked rows; only a replay reads the accounts again.
    debit, credit = result.accounts or hold_accounts(hold)
    body = {"hold": s.HoldOutputSerializer(hold, context={"viewer": viewer}).data}
    if hold.status == Hold.Status.FAILED:
        details = decline_details(hold.failure_reason, debit=debit, credit=credit, amount=hold.amount, viewer=viewer)
        raise DECLINES[hold.failure_reason](
            extra={**body, **({"details": details} if details else {})}, headers=headers
        )
    if result.transaction is not None:
        body["transaction"] = s.TransactionOutputSerializer(result.transaction, context={"viewer": viewer}).data
    body["balances"] = balances_json((debit, credit), viewer=viewer)
    if result.replayed:
        return Response({"message": HOLD_REPLAYED, **body}, headers=headers)
    answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return Response({"message": message, **body}, status=answer)


class HoldPagination(KeysetPagination):
    ordering = ("-created_at", "-id")
    items_key = "holds"


class HoldCreateApi(APIView):
    throttle_scope = "transfer"  # reserving money is rate limited like moving it
    throttle_classes = [ScopedRateThrottle]

    @extend_schema(
        operation_id="holds_create",
        request=s.HoldCreateInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: s.HoldWrittenSerializer,
            200: s.HoldWrittenSerializer,
            **error_responses(InvalidAccountError, SameAccountError, CurrencyMismatchError),
            **error_responses(
                InsufficientFundsError,
                AccountInactiveError,
                IdempotencyKeyReusedError,
                serializer=s.HoldDeclineSerializer,
            ),
        },
    )
    def post(self, request):
        serializer = s.HoldCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = hold_create(
            initiator=request.user,
            from_account_id=data["fromAccount"],
            to_account_id=data["toAccount"],
            amount=data["amount"],
            idempotency_key=idempotency_key(request, data),
            expires_in=data.get("expiresIn", settings.HOLD_DEFAULT_EXPIRES_IN_SECONDS),
            metadata=data["metadata"],
        )
        return hold_write_response(request, result, message=HOLD_CREATED, created=True)


class HoldListApi(APIView):
    pagination_class = HoldPagination

    @extend_schema(
        operation_id="holds_list",
        parameters=[s.HoldFilterSerializer],
        responses={200: s.HoldOutputSerializer(many=True)},
    )
    def get(self, request):
        return filtered_page_response(
            self, request, filters_class=s.HoldFilterSerializer, selector=hold_list, output_class=s.HoldOutputSerializer
        )


# `/api/holds`: GET lists, POST creates; one URL needs one view (as TransactionsApi).
class HoldsApi(HoldCreateApi, HoldListApi):
    def get_throttles(self):
        return super().get_throttles() if self.request.method == "POST" else []


class HoldDetailApi(APIView):
    @extend_schema(responses={200: s.HoldWrapperSerializer, **error_responses(HoldNotFoundError)})
    def get(self, request, hold_id):
        hold = hold_get(user=request.user, hold_id=hold_id)
        return Response({"hold": s.HoldOutputSerializer(hold, context={"viewer": request.user}).data})


class HoldCaptureApi(APIView):
    @extend_schema(
        request=s.HoldCaptureInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: s.HoldCapturedSerializer,
            200: s.HoldCapturedSerializer,
            **error_responses(HoldNotFoundError),
            **error_responses(HoldNotPendingError, serializer=s.DeclineDetailsSerializer),
            **error_responses(
                CaptureExceedsHoldError,
                AccountInactiveError,
                AmountOutOfRangeError,
                IdempotencyKeyReusedError,
                serializer=s.DeclineDetailsSerializer,
            ),
        },
    )
    def post(self, request, hold_id):
        serializer = s.HoldCaptureInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = hold_capture(
            initiator=request.user,
            hold_id=hold_id,
            idempotency_key=idempotency_key(request, data),
            amount=data.get("amount"),
        )
        return hold_write_response(request, result, message=HOLD_CAPTURED, created=True)


class HoldVoidApi(APIView):
    @extend_schema(
        request=s.HoldVoidInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            200: s.HoldWrittenSerializer,
            **error_responses(HoldNotFoundError),
            **error_responses(HoldNotPendingError, serializer=s.DeclineDetailsSerializer),
            **error_responses(IdempotencyKeyReusedError),
        },
    )
    def post(self, request, hold_id):
        serializer = s.HoldVoidInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = hold_void(
            initiator=request.user, hold_id=hold_id, idempotency_key=idempotency_key(request, serializer.validated_data)
        )
        return hold_write_response(request, result, message=HOLD_VOIDED, created=False)
