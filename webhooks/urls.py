from django.urls import path

from . import apis

urlpatterns = [
    path("webhooks", apis.WebhookListCreateApi.as_view(), name="webhook-list"),
    path("webhooks/<uuid:webhook_id>", apis.WebhookDetailApi.as_view(), name="webhook-detail"),
    path("webhooks/<uuid:webhook_id>/rotate-secret", apis.WebhookSecretRotateApi.as_view(), name="webhook-rotate"),
    path("webhooks/<uuid:webhook_id>/test", apis.WebhookTestApi.as_view(), name="webhook-test"),
    path("webhooks/<uuid:webhook_id>/deliveries", apis.WebhookDeliveryListApi.as_view(), name="webhook-deliveries"),
    path("events/<uuid:event_id>/redeliver", apis.EventRedeliverApi.as_view(), name="event-redeliver"),
]
