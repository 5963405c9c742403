from decimal import Decimal

from django.db import transaction
from django.shortcuts import get_object_or_404
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import Account, Transfer


class TransferInputSerializer(serializers.Serializer):
    fromAccount = serializers.IntegerField()
    toAccount = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))

    def validate(self, data):
        if data["fromAccount"] == data["toAccount"]:
            raise ValidationError("Choose two different accounts.")
        return data


class TransferSerializer(serializers.ModelSerializer):
    class Meta:
        model = Transfer
        fields = ["id", "from_account", "to_account", "amount", "created_at"]


class AccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = Account
        fields = ["id", "balance"]


class TransferCreateApi(APIView):
    def post(self, request):
        serializer = TransferInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        source_id, target_id, amount = (
            serializer.validated_data[name] for name in ("fromAccount", "toAccount", "amount")
        )
        with transaction.atomic():
            # Both rows locked in one query in id order, so two opposite transfers cannot deadlock.
            accounts = (
                Account.objects.select_for_update().filter(id__in=[source_id, target_id]).order_by("id").in_bulk()
            )
            source, target = accounts.get(source_id), accounts.get(target_id)
            if source is None or target is None or source.owner_id != request.user.id:
                raise NotFound()
            if source.balance < amount:
                raise ValidationError({"amount": "Insufficient funds."})
            transfer = Transfer.objects.create(from_account=source, to_account=target, amount=amount)
            source.balance -= amount
            target.balance += amount
            source.save(update_fields=["balance"])
            target.save(update_fields=["balance"])
        return Response(TransferSerializer(transfer).data, status=201)


class AccountBalanceApi(APIView):
    def get(self, request, pk):
        return Response(AccountSerializer(get_object_or_404(Account, pk=pk, owner=request.user)).data)
