"""Two workers given one delivery at once (a duplicated message, a relay racing a redelivered
one) make one attempt: the delivery's row lock, taken with SKIP LOCKED, lets one through."""

import pytest

from tests.concurrency import run_concurrently
from webhooks.models import WebhookAttempt, WebhookDelivery
from webhooks.services import webhook_deliver, webhook_fanout

from .conftest import event_for
from .receiver import Answer

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_delivery_taken_by_many_workers_at_once_is_sent_once(user, receiver, endpoint_of):
    endpoint_of(user, receiver.url)
    event_for(user)
    webhook_fanout()
    delivery = WebhookDelivery.objects.get()
    receiver.default = Answer(200, delay=0.5)  # the first send is still out when the others look

    results, errors = run_concurrently([lambda: webhook_deliver(delivery_id=delivery.id)] * 8, workers=8)

    assert errors == [None] * 8
    assert sorted(results) == [False] * 7 + [True]
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, WebhookAttempt.objects.count()) == ("delivered", 1, 1)
