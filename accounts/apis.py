from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from authn.exceptions import NotSystemUserError
from ledger_project.metadata import metadata_filters
from ledger_project.pagination import KeysetPagination
from ledger_project.schema import error_responses

from . import serializers as s
from .exceptions import AccountLimitReachedError, AccountNotFoundError
from .selectors import account_balance_as_of, account_get, account_list
from .services import account_limits_set, account_metadata_set, account_open


class AccountPagination(KeysetPagination):
    ordering = ("created_at", "id")
    items_key = "accounts"


class AccountListCreateApi(APIView):
    pagination_class = AccountPagination

    @extend_schema(operation_id="accounts_list", responses={200: s.AccountOutputSerializer(many=True)})
    def get(self, request):
        paginator = self.pagination_class()
        queryset = account_list(owner=request.user, metadata=metadata_filters(request.query_params))
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(s.AccountOutputSerializer(page, many=True).data)

    @extend_schema(
        request=s.AccountOpenInputSerializer,
        responses={201: s.AccountWrapperSerializer, **error_responses(AccountLimitReachedError)},
    )
    def post(self, request):
        serializer = s.AccountOpenInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = account_open(owner=request.user, **serializer.validated_data)
        return Response(s.AccountWrapperSerializer({"account": account}).data, status=status.HTTP_201_CREATED)


class AccountDetailApi(APIView):
    @extend_schema(responses={200: s.AccountWrapperSerializer})
    def get(self, request, account_id):
        account = account_get(owner=request.user, account_id=account_id)
        return Response(s.AccountWrapperSerializer({"account": account}).data)

    @extend_schema(
        request=s.AccountMetadataInputSerializer,
        responses={200: s.AccountWrapperSerializer, **error_responses(AccountNotFoundError)},
    )
    def patch(self, request, account_id):
        serializer = s.AccountMetadataInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = account_metadata_set(
            owner=request.user, account_id=account_id, metadata=serializer.validated_data["metadata"]
        )
        return Response(s.AccountWrapperSerializer({"account": account}).data)


class AccountBalanceApi(APIView):
    """O(1): the stored balance, kept equal to the entries by the transfer services; with
    `?asOf=`, one indexed lookup of the entry then (its `balanceAfter`)."""

    @extend_schema(
        parameters=[s.BalanceAsOfSerializer],
        responses={
            200: PolymorphicProxySerializer(
                component_name="AccountBalance",
                serializers=[s.AccountBalanceOutputSerializer, s.AccountBalanceAsOfOutputSerializer],
                resource_type_field_name=None,
            )
        },
    )
    def get(self, request, account_id):
        query = s.BalanceAsOfSerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        account = account_get(owner=request.user, account_id=account_id)
        instant = query.validated_data.get("asOf")
        if instant is None:
            return Response(s.AccountBalanceOutputSerializer(account).data)
        balance = account_balance_as_of(account=account, instant=instant)
        return Response(
            s.AccountBalanceAsOfOutputSerializer({"account": account, "balance": balance, "instant": instant}).data
        )


# The API takes no reason; the history names the route, and LogEntry the system user.
LIMITS_API_REASON = "set through PATCH /api/accounts/{id}/limits"


class AccountLimitsApi(APIView):
    """System users set an account's limits (operators also do it in the admin)."""

    @extend_schema(
        request=s.AccountLimitsInputSerializer,
        responses={200: s.AccountLimitsOutputSerializer, **error_responses(NotSystemUserError, AccountNotFoundError)},
    )
    def patch(self, request, account_id):
        if not request.user.is_system:
            raise NotSystemUserError()
        serializer = s.AccountLimitsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account, _ = account_limits_set(
            account_id=account_id, changes=serializer.validated_data, actor=request.user, reason=LIMITS_API_REASON
        )
        return Response(s.AccountLimitsOutputSerializer(account).data)
