from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from . import serializers as s
from .selectors import account_get, account_list
from .services import account_open


class AccountListCreateApi(APIView):
    @extend_schema(operation_id="accounts_list", responses={200: s.AccountListOutputSerializer})
    def get(self, request):
        return Response(s.AccountListOutputSerializer({"accounts": account_list(owner=request.user)}).data)

    @extend_schema(request=s.AccountOpenInputSerializer, responses={201: s.AccountWrapperSerializer})
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


class AccountBalanceApi(APIView):
    """O(1): the stored balance, kept equal to the entries by the transfer services."""

    @extend_schema(responses={200: s.AccountBalanceOutputSerializer})
    def get(self, request, account_id):
        account = account_get(owner=request.user, account_id=account_id)
        return Response(s.AccountBalanceOutputSerializer(account).data)
