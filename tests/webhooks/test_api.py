"""The webhook routes: shapes, validation (a 400 that stores nothing), the secret shown once, and
ownership (another user's endpoint or event is 404, like an unknown one)."""

import base64
import uuid

import pytest
from standardwebhooks.webhooks import Webhook

from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_deliver, webhook_fanout

from .conftest import event_for
from .receiver import Answer

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/ledger"


def create(client, **body):
    return client.post("/api/webhooks", {"url": URL, "events": ["transaction.*"], **body}, format="json")


def test_create_answers_the_endpoint_and_its_secret_once(auth_client, user):
    response = create(auth_client, description="books")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"webhook", "secret"}
    assert body["secret"].startswith("whsec_") and len(base64.b64decode(body["secret"][6:])) == 32
    webhook = body["webhook"]
    assert webhook == {
        "id": webhook["id"],
        "url": URL,
        "events": ["transaction.*"],
        "description": "books",
        "enabled": True,
        "disabledReason": None,
        "disabledAt": None,
        "createdAt": webhook["createdAt"],
        "updatedAt": webhook["updatedAt"],
    }
    endpoint = WebhookEndpoint.objects.get(user=user)
    assert body["secret"] not in endpoint.secret_encrypted  # only encrypted at rest
    for listed in (auth_client.get("/api/webhooks"), auth_client.get(f"/api/webhooks/{webhook['id']}")):
        assert listed.status_code == 200 and "secret" not in listed.content.decode().lower().replace('"secret"', "")
        assert body["secret"] not in listed.content.decode()
    assert auth_client.get("/api/webhooks").json() == {"webhooks": [webhook], "next": None}


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://hooks.example.com/x"},
        {"url": "https://user:pw@hooks.example.com/x"},
        {"url": "not a url"},
        {"url": ""},
        {"url": 5},
        {"url": "https://hooks.example.com/" + "x" * 2000},
        {"events": []},
        {"events": "transaction.*"},
        {"events": ["nope.*"]},
        {"events": ["transaction.nope"]},
        {"events": ["transaction"]},
        {"events": [1]},
        {"events": ["*"] * 21},
        {"description": "x" * 501},
        {"url": None},
    ],
)
def test_bad_input_is_a_400_that_stores_nothing(auth_client, body):
    response = create(auth_client, **body)

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "validation_error"
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "url", ["http://hooks.example.com/x", "https://127.0.0.1/x", "https://[::1]/x", "https://169.254.169.254/x"]
)
def test_production_rules_refuse_plain_http_and_inside_addresses(auth_client, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    response = create(auth_client, url=url)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["url"]


def test_patch_changes_what_it_is_given_and_delete_removes_the_endpoint(auth_client):
    webhook_id = create(auth_client).json()["webhook"]["id"]

    response = auth_client.patch(
        f"/api/webhooks/{webhook_id}", {"events": ["hold.*", "account.closed"], "enabled": False}, format="json"
    )
    assert response.status_code == 200
    webhook = response.json()["webhook"]
    assert (webhook["events"], webhook["enabled"], webhook["disabledReason"]) == (
        ["hold.*", "account.closed"],
        False,
        "owner",
    )
    assert webhook["url"] == URL
    assert auth_client.patch(f"/api/webhooks/{webhook_id}", {}, format="json").status_code == 400
    assert auth_client.patch(f"/api/webhooks/{webhook_id}", {"url": "ftp://x"}, format="json").status_code == 400

    assert auth_client.delete(f"/api/webhooks/{webhook_id}").status_code == 204
    assert auth_client.get(f"/api/webhooks/{webhook_id}").status_code == 404


def test_rotate_secret_answers_a_new_secret_and_both_sign(auth_client, user, receiver):
    created = create(auth_client, url=receiver.url).json()
    response = auth_client.post(f"/api/webhooks/{created['webhook']['id']}/rotate-secret")

    assert response.status_code == 200
    assert response.json()["secret"] != created["secret"]
    event_for(user)
    webhook_fanout()
    webhook_deliver(delivery_id=WebhookDelivery.objects.get().id)
    (received,) = receiver.wait_for(1)
    for secret in (created["secret"], response.json()["secret"]):
        Webhook(secret).verify(received.body, received.headers)


def test_test_queues_a_message_and_deliveries_lists_each_attempt(auth_client, receiver):
    created = create(auth_client, url=receiver.url).json()
    webhook_id = created["webhook"]["id"]

    response = auth_client.post(f"/api/webhooks/{webhook_id}/test")
    assert response.status_code == 202
    delivery = response.json()["delivery"]
    assert (delivery["trigger"], delivery["status"], delivery["eventId"]) == ("test", "pending", None)
    assert receiver.requests == []  # queued, not sent on the request path

    receiver.answer(Answer(500, body=b"e" * 3000))
    webhook_deliver(delivery_id=delivery["id"])
    webhook_deliver(delivery_id=delivery["id"], now=WebhookDelivery.objects.get().next_attempt_at)
    first, _ = receiver.wait_for(2)
    payload = Webhook(created["secret"]).verify(first.body, first.headers)
    assert payload["type"] == "webhook.test" and payload["data"] == {"webhookId": webhook_id}

    listed = auth_client.get(f"/api/webhooks/{webhook_id}/deliveries").json()
    assert listed["next"] is None
    newest, oldest = listed["deliveries"]
    assert (newest["statusCode"], newest["response"], newest["error"]) == (200, "ok", None)
    assert (oldest["statusCode"], oldest["response"], oldest["error"]) == (500, "e" * 1024, None)
    assert oldest["durationMs"] >= 0 and oldest["attemptedAt"]
    assert newest["delivery"]["status"] == "delivered" and newest["delivery"]["attempts"] == 2


def test_test_of_a_disabled_endpoint_is_a_409(auth_client):
    webhook_id = create(auth_client, url=URL).json()["webhook"]["id"]
    auth_client.patch(f"/api/webhooks/{webhook_id}", {"enabled": False}, format="json")

    response = auth_client.post(f"/api/webhooks/{webhook_id}/test")

    assert (response.status_code, response.json()["code"]) == (409, "webhook_disabled")


def test_redeliver_queues_the_event_to_the_callers_subscribed_endpoints(auth_client, user, other_user):
    subscribed = create(auth_client, events=["transaction.completed"]).json()["webhook"]["id"]
    create(auth_client, events=["hold.*"])
    event = event_for(user)

    response = auth_client.post(f"/api/events/{event.id}/redeliver")

    assert response.status_code == 202
    (delivery,) = response.json()["deliveries"]
    assert (delivery["webhookId"], delivery["eventId"], delivery["messageId"]) == (
        subscribed,
        str(event.id),
        str(event.id),
    )


def test_another_users_endpoint_or_event_is_404_on_every_route(auth_client, other_client, other_user):
    webhook_id = create(other_client).json()["webhook"]["id"]
    event = event_for(other_user)
    before = WebhookEndpoint.objects.get()

    for method, path, body in [
        ("get", f"/api/webhooks/{webhook_id}", None),
        ("patch", f"/api/webhooks/{webhook_id}", {"enabled": False}),
        ("delete", f"/api/webhooks/{webhook_id}", None),
        ("post", f"/api/webhooks/{webhook_id}/rotate-secret", None),
        ("post", f"/api/webhooks/{webhook_id}/test", None),
        ("get", f"/api/webhooks/{webhook_id}/deliveries", None),
        ("post", f"/api/events/{event.id}/redeliver", None),
        ("get", f"/api/webhooks/{uuid.uuid4()}", None),
        ("get", "/api/webhooks/not-a-uuid", None),
        ("post", f"/api/events/{uuid.uuid4()}/redeliver", None),
    ]:
        response = getattr(auth_client, method)(path, body, format="json")
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), (method, path)

    assert auth_client.get("/api/webhooks").json()["webhooks"] == []
    after = WebhookEndpoint.objects.get()
    assert (after.enabled, after.secret_encrypted) == (True, before.secret_encrypted)
    assert not WebhookDelivery.objects.exists()


def test_the_routes_need_authentication(client):
    assert client.get("/api/webhooks").status_code == 401
    assert client.post("/api/webhooks", {}, format="json").status_code == 401


def test_an_owner_has_at_most_the_configured_number_of_endpoints(auth_client, settings):
    settings.WEBHOOK_MAX_ENDPOINTS_PER_USER = 2
    assert [create(auth_client).status_code for _ in range(2)] == [201, 201]

    response = create(auth_client)

    assert (response.status_code, response.json()["code"]) == (409, "webhook_limit_reached")
