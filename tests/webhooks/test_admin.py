"""The webhook admin: read-only lists of endpoints and deliveries, never a secret."""

import pytest
from django.test import Client

from tests.factories import UserFactory
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_deliver, webhook_fanout, webhook_secret_rotate

from .conftest import event_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_endpoints_and_deliveries_are_listed_and_shown_without_any_secret(admin_client, user, receiver, endpoint_of):
    endpoint, old_secret = endpoint_of(user, receiver.url)
    endpoint, secret = webhook_secret_rotate(endpoint=endpoint)
    event_for(user)
    webhook_fanout()
    delivery = WebhookDelivery.objects.get()
    webhook_deliver(delivery_id=delivery.id)
    endpoint.refresh_from_db()

    pages = [
        "/admin/webhooks/webhookendpoint/",
        f"/admin/webhooks/webhookendpoint/{endpoint.id}/change/",
        "/admin/webhooks/webhookdelivery/",
        f"/admin/webhooks/webhookdelivery/{delivery.id}/change/",
    ]
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        for hidden in (secret, old_secret, secret[6:], endpoint.secret_encrypted, endpoint.previous_secret_encrypted):
            assert hidden not in html, page
    assert receiver.url in admin_client.get(pages[0]).content.decode()
    assert "200" in admin_client.get(pages[3]).content.decode()  # the attempt's status code


def test_nothing_can_be_added_changed_or_deleted(admin_client, user, endpoint_of):
    endpoint, _ = endpoint_of(user, "https://hooks.example.com/x")

    assert admin_client.get("/admin/webhooks/webhookendpoint/add/").status_code == 403
    assert (
        admin_client.post(f"/admin/webhooks/webhookendpoint/{endpoint.id}/delete/", {"post": "yes"}).status_code == 403
    )
    admin_client.post(f"/admin/webhooks/webhookendpoint/{endpoint.id}/change/", {"url": "https://evil.example/x"})
    assert WebhookEndpoint.objects.get().url == "https://hooks.example.com/x"
