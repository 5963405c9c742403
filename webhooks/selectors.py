from .exceptions import WebhookNotFoundError
from .models import WebhookAttempt, WebhookEndpoint


def webhook_endpoint_list(*, user):
    return WebhookEndpoint.objects.filter(user=user)


def webhook_endpoint_get(*, user, endpoint_id) -> WebhookEndpoint:
    """The caller's endpoint; anyone else's is not found, like an unknown one."""
    endpoint = WebhookEndpoint.objects.filter(user=user, id=endpoint_id).first()
    if endpoint is None:
        raise WebhookNotFoundError()
    return endpoint


def webhook_attempt_list(*, endpoint: WebhookEndpoint):
    """Every attempt to the endpoint, with the delivery and event it was for."""
    return WebhookAttempt.objects.filter(endpoint=endpoint).select_related("delivery__event")
