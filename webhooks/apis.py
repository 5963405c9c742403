from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger_project.pagination import KeysetPagination
from ledger_project.schema import error_responses

from . import serializers as s
from .exceptions import EventNotFoundError, WebhookDisabledError, WebhookLimitReachedError, WebhookNotFoundError
from .selectors import webhook_attempt_list, webhook_endpoint_get, webhook_endpoint_list
from .services import (
    event_redeliver,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
    webhook_secret_rotate,
    webhook_test_send,
)


class WebhookPagination(KeysetPagination):
    ordering = ("-created_at", "-id")
    items_key = "webhooks"


class AttemptPagination(KeysetPagination):
    ordering = ("-attempted_at", "-id")
    items_key = "deliveries"


class WebhookListCreateApi(APIView):
    pagination_class = WebhookPagination

    @extend_schema(operation_id="webhooks_list", responses={200: s.WebhookOutputSerializer(many=True)})
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(webhook_endpoint_list(user=request.user), request, view=self)
        return paginator.get_paginated_response(s.WebhookOutputSerializer(page, many=True).data)

    @extend_schema(
        request=s.WebhookCreateInputSerializer,
        responses={201: s.WebhookWithSecretSerializer, **error_responses(WebhookLimitReachedError)},
    )
    def post(self, request):
        serializer = s.WebhookCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = webhook_endpoint_create(user=request.user, **serializer.validated_data)
        body = s.WebhookWithSecretSerializer({"webhook": endpoint, "secret": secret}).data
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookDetailApi(APIView):
    @extend_schema(responses={200: s.WebhookWrapperSerializer, **error_responses(WebhookNotFoundError)})
    def get(self, request, webhook_id):
        endpoint = webhook_endpoint_get(user=request.user, endpoint_id=webhook_id)
        return Response(s.WebhookWrapperSerializer({"webhook": endpoint}).data)

    @extend_schema(
        request=s.WebhookUpdateInputSerializer,
        responses={200: s.WebhookWrapperSerializer, **error_responses(WebhookNotFoundError)},
    )
    def patch(self, request, webhook_id):
        endpoint = webhook_endpoint_get(user=request.user, endpoint_id=webhook_id)
        serializer = s.WebhookUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_update(endpoint=endpoint, changes=serializer.validated_data)
        return Response(s.WebhookWrapperSerializer({"webhook": endpoint}).data)

    @extend_schema(responses={204: None, **error_responses(WebhookNotFoundError)})
    def delete(self, request, webhook_id):
        webhook_endpoint_delete(endpoint=webhook_endpoint_get(user=request.user, endpoint_id=webhook_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookSecretRotateApi(APIView):
    @extend_schema(
        request=None, responses={200: s.WebhookWithSecretSerializer, **error_responses(WebhookNotFoundError)}
    )
    def post(self, request, webhook_id):
        endpoint = webhook_endpoint_get(user=request.user, endpoint_id=webhook_id)
        endpoint, secret = webhook_secret_rotate(endpoint=endpoint)
        return Response(s.WebhookWithSecretSerializer({"webhook": endpoint, "secret": secret}).data)


class WebhookTestApi(APIView):
    """Queues a `webhook.test` message; its attempts appear under /deliveries within seconds."""

    @extend_schema(
        request=None,
        responses={202: s.DeliveryWrapperSerializer, **error_responses(WebhookNotFoundError, WebhookDisabledError)},
    )
    def post(self, request, webhook_id):
        delivery = webhook_test_send(endpoint=webhook_endpoint_get(user=request.user, endpoint_id=webhook_id))
        return Response(s.DeliveryWrapperSerializer({"delivery": delivery}).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryListApi(APIView):
    pagination_class = AttemptPagination

    @extend_schema(
        operation_id="webhooks_deliveries_list",
        responses={200: s.AttemptOutputSerializer(many=True), **error_responses(WebhookNotFoundError)},
    )
    def get(self, request, webhook_id):
        endpoint = webhook_endpoint_get(user=request.user, endpoint_id=webhook_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(webhook_attempt_list(endpoint=endpoint), request, view=self)
        return paginator.get_paginated_response(s.AttemptOutputSerializer(page, many=True).data)


class EventRedeliverApi(APIView):
    """Queues the event again to each of the caller's enabled endpoints that subscribe to it."""

    @extend_schema(request=None, responses={202: s.DeliveriesWrapperSerializer, **error_responses(EventNotFoundError)})
    def post(self, request, event_id):
        deliveries = event_redeliver(user=request.user, event_id=event_id)
        return Response(s.DeliveriesWrapperSerializer({"deliveries": deliveries}).data, status=status.HTTP_202_ACCEPTED)
