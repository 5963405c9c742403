"""Webhooks under a fault, end to end: a real worker (with beat's relay embedded) is killed with
SIGKILL while the receiver holds its request; the delivery's lease ends and a second worker
delivers the message again, with the same webhook-id. At least once, never lost."""

import os
import signal
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from events.models import Event
from tests.factories import UserFactory
from tests.webhooks.receiver import Answer, receiver
from webhooks.models import WebhookAttempt, WebhookDelivery
from webhooks.services import webhook_endpoint_create

from . import processes
from .processes import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def relay_worker(tmp_path, name, **env):
    return processes.celery_worker("--beat", "--schedule", str(tmp_path / f"beat-{name}"), **env)


def kill_with_children(process):
    """SIGKILL the worker and its embedded beat (a child process, which would otherwise outlive
    it, orphaned, relaying against a database that is gone): the machine dies, not one process."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    for pid in children:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_worker_killed_mid_delivery_is_followed_by_a_delivery_with_the_same_webhook_id(tmp_path):
    user = UserFactory()
    port = processes.free_port()
    env = {
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "WEBHOOK_LEASE_SECONDS": "3",
        "WEBHOOK_RELAY_INTERVAL_SECONDS": "0.5",
    }
    with receiver() as hooks, processes.redis_server(port):
        _, secret = webhook_endpoint_create(user=user, url=hooks.url, events=["transaction.*"])
        event = Event.objects.create(user=user, type="transaction.completed", data={"id": "t1", "amount": "5.00"})
        hooks.answer(Answer(hold=True))  # the first request is held until the test lets go

        with relay_worker(tmp_path, "first", **env) as first:
            hooks.wait_for(1, timeout=60)
            kill_with_children(first)
        hooks.release()

        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.attempts) == ("pending", 0)  # the killed attempt left nothing
        assert not WebhookAttempt.objects.exists()

        with relay_worker(tmp_path, "second", **env):
            wait_for(
                lambda: WebhookDelivery.objects.filter(status="delivered").exists(),
                timeout=60,
                what="the delivery to be made again",
            )

        killed, delivered = hooks.requests
    assert killed.headers["webhook-id"] == delivered.headers["webhook-id"] == str(event.id)
    assert Webhook(secret).verify(killed.body, killed.headers) == Webhook(secret).verify(
        delivered.body, delivered.headers
    )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
