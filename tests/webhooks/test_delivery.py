"""Delivery to a real HTTP receiver on 127.0.0.1, each message checked with the standardwebhooks
verifier: fan-out, signature, retries and their timing on a controlled clock, Retry-After, 410,
redelivery, secret rotation, a receiver that hangs, and the relay's leases."""

import json
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from accounts.services import account_open
from events.models import Event, EventType
from notifications.models import OutboxEmail
from tests.factories import UserFactory
from webhooks import services
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import event_redeliver, webhook_deliver, webhook_fanout, webhook_secret_rotate

from .conftest import event_for
from .receiver import Answer

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status


def verified(received, secret) -> dict:
    """The body as the receiver's library reads it: raises unless the signature is good."""
    return Webhook(secret).verify(received.body, received.headers)


def deliver(delivery, now=None) -> WebhookDelivery:
    webhook_deliver(delivery_id=delivery.id, now=now)
    delivery.refresh_from_db()
    return delivery


def test_an_event_is_fanned_out_once_to_the_matching_endpoints_and_delivered_signed(user, receiver, endpoint_of):
    endpoint, secret = endpoint_of(user, receiver.url, events=["transaction.*"])
    endpoint_of(user, receiver.url, events=["hold.created"])  # another type: nothing
    endpoint_of(UserFactory(), receiver.url)  # another user's endpoint for everything: nothing
    event = event_for(user, data={"id": "t1", "amount": "10.00", "note": "café"})
    event_for(user, type="account.created")

    assert webhook_fanout() == 1
    assert webhook_fanout() == 0  # each event once
    assert not Event.objects.filter(webhooks_pending=True).exists()
    assert receiver.requests == []  # nothing is sent until a worker takes the delivery

    delivery = deliver(WebhookDelivery.objects.get())
    (received,) = receiver.wait_for(1)
    payload = verified(received, secret)
    assert payload == {
        "type": "transaction.completed",
        "timestamp": event.created_at.isoformat().replace("+00:00", "Z"),
        "data": {"id": "t1", "amount": "10.00", "note": "café"},
    }
    assert received.headers["webhook-id"] == str(event.id)
    assert received.headers["Content-Type"] == "application/json"
    assert abs(int(received.headers["webhook-timestamp"]) - time.time()) < 60
    assert (delivery.status, delivery.attempts, delivery.endpoint_id) == (Status.DELIVERED, 1, endpoint.id)
    attempt = WebhookAttempt.objects.get()
    assert (attempt.status_code, attempt.response_body, attempt.error) == (200, "ok", "")


def test_a_forged_or_tampered_message_does_not_verify(user, receiver, endpoint_of):
    _, secret = endpoint_of(user, receiver.url)
    event_for(user)
    webhook_fanout()
    deliver(WebhookDelivery.objects.get())
    (received,) = receiver.wait_for(1)

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(received.body.replace(b"10.00", b"99.00"), received.headers)
    _, other_secret = endpoint_of(user, receiver.url)
    with pytest.raises(WebhookVerificationError):
        verified(received, other_secret)


def test_a_500_is_retried_later_with_the_same_id_and_body_then_delivered(user, receiver, endpoint_of):
    _, secret = endpoint_of(user, receiver.url)
    event = event_for(user)
    webhook_fanout()
    receiver.answer(Answer(500, body=b"boom"))

    delivery = deliver(WebhookDelivery.objects.get())
    assert (delivery.status, delivery.attempts, delivery.last_error) == (Status.PENDING, 1, "HTTP 500")
    assert delivery.next_attempt_at > timezone.now()
    assert webhook_deliver(delivery_id=delivery.id, now=delivery.next_attempt_at)  # delivered now

    first, second = receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == str(event.id)
    assert first.body == second.body
    assert verified(first, secret) == verified(second, secret)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.DELIVERED, 2)
    assert list(WebhookAttempt.objects.order_by("id").values_list("status_code", "response_body")) == [
        (500, "boom"),
        (200, "ok"),
    ]
    WebhookEndpoint.objects.get(failing_since__isnull=True)  # a success ends the failure streak


def test_backoff_doubles_with_jitter_for_three_days_then_gives_up_and_disables_the_endpoint(
    user, receiver, endpoint_of, settings, mailoutbox
):
    settings.WEBHOOK_RETRY_BACKOFF_SECONDS = 30
    settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS = 6 * 3600
    settings.WEBHOOK_RETRY_WINDOW_SECONDS = 3 * 86400
    receiver.default = Answer(500)
    endpoint, _ = endpoint_of(user, receiver.url)
    event_for(user)
    webhook_fanout()
    delivery = WebhookDelivery.objects.get()
    created = delivery.created_at

    now, times = created, []
    while delivery.status == Status.PENDING:
        times.append(now)
        delivery = deliver(delivery, now=now)
        now = delivery.next_attempt_at
        assert len(times) < 100

    delays = [(later - earlier).total_seconds() for earlier, later in zip(times, times[1:], strict=False)]
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(30 * 2 ** (attempt - 1), 6 * 3600)
        assert ceiling / 2 <= delay <= ceiling, (attempt, delay)
    assert len(set(round(d / min(30 * 2**i, 21600), 3) for i, d in enumerate(delays))) > len(delays) / 2  # jitter
    assert times[-1] - created <= timedelta(days=3)
    assert times[-1] - created > timedelta(days=3) - timedelta(hours=6)  # it used the window
    assert len(receiver.requests) == delivery.attempts == len(times)
    assert delivery.status == Status.FAILED and "gave up" in delivery.last_error

    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "failing")
    (email,) = OutboxEmail.objects.all()
    assert email.to == user.email and "every delivery to it failed for 3 days" in email.body


def test_retry_after_is_honoured_in_seconds_and_as_a_date(user, receiver, endpoint_of):
    endpoint_of(user, receiver.url)
    event_for(user)
    webhook_fanout()
    now = timezone.now()
    later = (now + timedelta(hours=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    receiver.answer(Answer(429, headers={"Retry-After": "3600"}), Answer(503, headers={"Retry-After": later}))

    delivery = deliver(WebhookDelivery.objects.get(), now=now)
    assert delivery.next_attempt_at - now >= timedelta(seconds=3600)
    delivery = deliver(delivery, now=now)
    assert delivery.next_attempt_at - now >= timedelta(hours=2) - timedelta(seconds=1)
    assert delivery.status == Status.PENDING


def test_a_410_disables_the_endpoint_at_once_cancels_its_other_deliveries_and_emails_the_owner(
    user, receiver, endpoint_of
):
    endpoint, _ = endpoint_of(user, receiver.url)
    event_for(user)
    event_for(user, type="hold.created")
    webhook_fanout()
    first, second = WebhookDelivery.objects.order_by("id")
    receiver.answer(Answer(410))

    assert (deliver(first).status, deliver(second).status) == (Status.FAILED, Status.FAILED)
    assert len(receiver.requests) == 1  # the second was cancelled, never sent
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "gone")
    (email,) = OutboxEmail.objects.all()
    assert email.to == user.email and "410 Gone" in email.body

    event_for(user)
    assert webhook_fanout() == 0  # a disabled endpoint gets no new deliveries


def test_redelivery_sends_the_event_again_with_the_same_webhook_id(user, receiver, endpoint_of):
    _, secret = endpoint_of(user, receiver.url, events=["transaction.completed"])
    event = event_for(user)
    webhook_fanout()
    deliver(WebhookDelivery.objects.get())

    (redelivery,) = event_redeliver(user=user, event_id=event.id)
    assert redelivery.trigger == "redelivery"
    deliver(redelivery)

    first, second = receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == str(event.id)
    assert verified(first, secret) == verified(second, secret)


def test_after_a_rotation_both_secrets_sign_for_24_hours_then_only_the_new_one(user, receiver, endpoint_of):
    endpoint, old_secret = endpoint_of(user, receiver.url)
    now = timezone.now()
    _, new_secret = webhook_secret_rotate(endpoint=endpoint, now=now)
    event_for(user)
    event_for(user)
    webhook_fanout()
    during, after = WebhookDelivery.objects.order_by("id")

    deliver(during, now=now + timedelta(hours=23))
    deliver(after, now=now + timedelta(hours=25))

    overlap, later = receiver.wait_for(2)
    assert len(overlap.headers["webhook-signature"].split(" ")) == 2
    assert verified(overlap, old_secret) == verified(overlap, new_secret)
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    verified(later, new_secret)
    with pytest.raises(WebhookVerificationError):
        verified(later, old_secret)


def test_a_receiver_that_hangs_is_given_up_on_at_the_timeout_and_retried(user, receiver, endpoint_of, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    endpoint_of(user, receiver.url)
    event_for(user)
    webhook_fanout()
    receiver.answer(Answer(hold=True))

    started = time.monotonic()
    delivery = deliver(WebhookDelivery.objects.get())
    assert time.monotonic() - started < 5
    assert delivery.status == Status.PENDING and delivery.last_error.startswith("timeout")
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None and 900 <= attempt.duration_ms < 5000


def test_a_slow_2xx_is_not_a_delivery(user, receiver, endpoint_of, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    endpoint_of(user, receiver.url)
    event_for(user)
    webhook_fanout()
    # Headers at once, then the body trickles in past the limit.
    receiver.answer(Answer(200, body_delay=0.7))

    delivery = deliver(WebhookDelivery.objects.get())
    assert delivery.status == Status.DELIVERED  # 0.7 s in all
    event_for(user)
    webhook_fanout()
    # Two reads of 0.7 s each, each under the socket's timeout: the whole answer is what counts.
    receiver.answer(Answer(200, delay=0.6, body_delay=0.6))
    delivery = deliver(WebhookDelivery.objects.latest("id"))
    assert delivery.status == Status.PENDING and delivery.last_error.startswith("timeout")


def test_an_answer_that_trickles_in_is_cut_off_at_the_timeout(user, receiver, endpoint_of, settings):
    """Every byte comes well within the socket's timeout, but the whole answer would take 10 s: the
    attempt's deadline ends it at 1 s, so a receiver cannot hold a worker by dripping."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    endpoint_of(user, receiver.url)
    event_for(user)
    webhook_fanout()
    receiver.answer(Answer(200, body=b"x" * 100, drip=0.1))

    started = time.monotonic()
    delivery = deliver(WebhookDelivery.objects.get())
    assert time.monotonic() - started < 3
    assert delivery.status == Status.PENDING and delivery.last_error.startswith("timeout")
    assert WebhookAttempt.objects.get().duration_ms < 3000


def test_only_the_first_kilobyte_of_the_answer_is_kept(user, receiver, endpoint_of):
    endpoint_of(user, receiver.url)
    event_for(user)
    webhook_fanout()
    receiver.answer(Answer(200, body=b"x" * 5000))

    assert deliver(WebhookDelivery.objects.get()).status == Status.DELIVERED
    assert WebhookAttempt.objects.get().response_body == "x" * 1024


def test_a_redirect_is_not_followed(user, receiver, endpoint_of):
    endpoint_of(user, receiver.url)
    event_for(user)
    webhook_fanout()
    receiver.answer(Answer(302, headers={"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}))

    delivery = deliver(WebhookDelivery.objects.get())
    time.sleep(0.3)
    assert [r.path for r in receiver.requests] == ["/hooks"]
    assert (delivery.status, delivery.last_error) == (Status.PENDING, "HTTP 302")


def test_the_relay_hands_each_due_delivery_over_once_under_a_lease(user, receiver, endpoint_of, broker, settings):
    settings.WEBHOOK_LEASE_SECONDS = 60
    endpoint_of(user, receiver.url)
    event_for(user)
    event_for(user)

    assert services.webhook_relay() == (2, 2)
    assert services.webhook_relay() == (0, 0)  # leased: not handed over again
    published = broker.published()
    assert [name for name, _ in published] == ["webhooks.tasks.webhook_deliver"] * 2
    lease, delivery_id = published[0][1]

    assert not webhook_deliver(delivery_id=delivery_id, lease="00000000-0000-0000-0000-000000000000")
    assert receiver.requests == []  # a message of another lease sends nothing
    assert webhook_deliver(delivery_id=delivery_id, lease=lease)
    assert not webhook_deliver(delivery_id=delivery_id, lease=lease)  # a duplicate message
    assert len(receiver.wait_for(1)) == 1

    # A lease that ended (its worker died) makes the delivery due again, under a new lease.
    WebhookDelivery.objects.filter(status=Status.PENDING).update(next_attempt_at=timezone.now())
    assert services.webhook_relay() == (0, 1)
    assert broker.published()[-1][1][0] != lease


def test_disabling_an_endpoint_cancels_its_pending_deliveries(user, receiver, endpoint_of):
    endpoint, _ = endpoint_of(user, receiver.url)
    event_for(user)
    webhook_fanout()

    services.webhook_endpoint_update(endpoint=endpoint, changes={"enabled": False})
    delivery = deliver(WebhookDelivery.objects.get())
    assert delivery.status == Status.FAILED and receiver.requests == []
    assert not OutboxEmail.objects.exists()  # the owner did it: no email

    services.webhook_endpoint_update(endpoint=endpoint, changes={"enabled": True})
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at) == (True, "", None)


def test_deliveries_older_than_the_retention_are_purged_with_their_attempts(user, receiver, endpoint_of, settings):
    settings.EVENT_RETENTION_DAYS = 30
    endpoint_of(user, receiver.url)
    event_for(user)
    event_for(user)
    webhook_fanout()
    old, recent = WebhookDelivery.objects.order_by("id")
    deliver(old)
    deliver(recent)
    WebhookDelivery.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=31))

    assert services.webhook_deliveries_purge() == 1
    assert list(WebhookDelivery.objects.values_list("id", flat=True)) == [recent.id]
    assert list(WebhookAttempt.objects.values_list("delivery_id", flat=True)) == [recent.id]


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "delivered"},  # delivered without a time
        {"status": "failed", "delivered_at": timezone.now()},
        {"status": "lost"},
    ],
)
def test_the_database_refuses_a_delivery_whose_outcome_does_not_match_its_status(user, endpoint_of, changes):
    endpoint, _ = endpoint_of(user, "http://127.0.0.1:9/hooks")
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event_for(user), message_id="m")

    with pytest.raises(IntegrityError), transaction.atomic():
        WebhookDelivery.objects.filter(id=delivery.id).update(**changes)


def test_the_database_refuses_a_disabled_endpoint_without_a_reason(user, endpoint_of):
    endpoint, _ = endpoint_of(user, "http://127.0.0.1:9/hooks")

    with pytest.raises(IntegrityError), transaction.atomic():
        WebhookEndpoint.objects.filter(id=endpoint.id).update(enabled=False)


def test_the_body_is_compact_json_of_type_timestamp_and_data(user, endpoint_of):
    endpoint, _ = endpoint_of(user, "http://127.0.0.1:9/hooks")
    event = event_for(user, data={"a": 1})
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event, message_id=str(event.id))

    body = services.webhook_body(delivery)
    assert json.loads(body) == {"type": event.type, "timestamp": json.loads(body)["timestamp"], "data": {"a": 1}}
    assert b" " not in body and list(json.loads(body)) == ["type", "timestamp", "data"]


def test_the_database_refuses_a_delivery_of_one_users_event_to_another_users_endpoint(user, endpoint_of):
    endpoint, _ = endpoint_of(UserFactory(), "http://127.0.0.1:9/hooks")
    event = event_for(user)

    with pytest.raises(IntegrityError, match="another user's endpoint"), transaction.atomic():
        WebhookDelivery.objects.create(endpoint=endpoint, event=event, message_id=str(event.id))
    own, _ = endpoint_of(user, "http://127.0.0.1:9/hooks")
    delivery = WebhookDelivery.objects.create(endpoint=own, event=event, message_id=str(event.id))
    with pytest.raises(IntegrityError), transaction.atomic():
        WebhookDelivery.objects.filter(id=delivery.id).update(endpoint=endpoint)
    with pytest.raises(IntegrityError), transaction.atomic():
        WebhookEndpoint.objects.filter(id=own.id).update(user=endpoint.user)


def test_verify_ledger_reports_a_delivery_to_another_users_endpoint(user, endpoint_of):
    from django.db import connection

    from transactions.audit import ledger_verify

    endpoint, _ = endpoint_of(UserFactory(), "http://127.0.0.1:9/hooks")
    # A real event (verify_ledger checks that each event's object exists): the account's opening.
    account_open(owner=user, currency="INR")
    event = Event.objects.get(user=user, type=EventType.ACCOUNT_CREATED)
    assert ledger_verify().ok
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE webhooks_webhookdelivery DISABLE TRIGGER webhook_delivery_same_owner")
        delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event, message_id=str(event.id))
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred foreign keys, before the ALTER
        cursor.execute("ALTER TABLE webhooks_webhookdelivery ENABLE TRIGGER webhook_delivery_same_owner")

    report = ledger_verify()
    assert report.violations == {"a webhook delivery carries its endpoint owner's own event": [str(delivery.id)]}


def test_the_event_purge_takes_the_deliveries_of_the_events_it_purges(user, endpoint_of):
    """An event past its retention whose delivery was made a moment after it: the event purge must
    not be refused by the delivery's foreign key (deliveries are purged by their own, daily)."""
    from events import tasks

    endpoint, _ = endpoint_of(user, "http://127.0.0.1:9/hooks")
    old = timezone.now() - timedelta(days=settings.EVENT_RETENTION_DAYS, seconds=1)
    event = event_for(user)
    Event.objects.filter(id=event.id).update(created_at=old)
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event, message_id=str(event.id))
    WebhookDelivery.objects.filter(id=delivery.id).update(created_at=old + timedelta(seconds=2))

    assert tasks.events_purge() == 1
    assert not Event.objects.filter(id=event.id).exists()
    assert not WebhookDelivery.objects.filter(id=delivery.id).exists()
