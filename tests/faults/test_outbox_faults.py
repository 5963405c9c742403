"""The outbox under faults, end to end: a real worker with beat's relay, a Redis of the test's own,
and a real SMTP server that refuses an address for good.

Every email leaves exactly once (the SMTP server sees each row's Message-ID once), an address
refused for good blocks nobody, a backlog drains in seconds, and a frozen broker costs a transfer
nothing.
"""

import signal
import time
from collections import Counter

import pytest

from authn.services import tokens_issue
from notifications.models import OutboxEmail
from notifications.services import email_enqueue
from tests.factories import AccountFactory, funded_account

from . import processes
from .processes import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def relay_worker(tmp_path, *extra_args, **env):
    """A worker with beat embedded: the relay hands due rows over every second."""
    return processes.celery_worker("--beat", "--schedule", str(tmp_path / "beat-schedule"), *extra_args, **env)


def message_id(row_id) -> str:
    return f"<outbox-{row_id}@ledger.local>"


def test_an_address_refused_for_good_fails_alone_and_every_other_email_leaves_once(tmp_path):
    port = processes.free_port()
    # The refused row is the oldest, so it heads every chunk, as in the incident.
    refused = email_enqueue(to="gone@example.com", subject="refused", body="b")
    others = [email_enqueue(to=f"user{n}@example.com", subject=f"ok {n}", body="b") for n in range(30)]

    with (
        processes.redis_server(port),
        processes.smtp_server(refuse=["gone@example.com"]) as smtp,
        relay_worker(tmp_path, REDIS_URL=f"redis://127.0.0.1:{port}/0", EMAIL_URL=smtp.email_url),
    ):
        wait_for(
            lambda: not OutboxEmail.objects.filter(sent_at__isnull=True, failed_at__isnull=True).exists(),
            timeout=60,
            what="every row to be sent or failed",
        )
        time.sleep(3)  # three more relay rounds: the failed row is never tried again

    refused.refresh_from_db()
    assert (refused.status, refused.attempts) == ("failed", 1)
    assert "550" in refused.last_error
    assert sorted(smtp.message_ids()) == sorted(message_id(row.id) for row in others)


def test_a_backlog_of_thousands_drains_in_seconds_across_worker_processes(tmp_path):
    port = processes.free_port()
    backlog = OutboxEmail.objects.bulk_create(
        OutboxEmail(to=f"u{n}@example.com", subject=f"s{n}", body="b") for n in range(2000)
    )

    with (
        processes.redis_server(port),
        relay_worker(
            tmp_path,
            "--pool",
            "prefork",
            "--concurrency",
            "2",
            REDIS_URL=f"redis://127.0.0.1:{port}/0",
            EMAIL_URL=f"filemail:///{tmp_path}",
        ),
    ):
        started = time.monotonic()
        wait_for(
            lambda: not OutboxEmail.objects.filter(sent_at__isnull=True).exists(),
            timeout=60,
            what="the backlog to drain",
        )
        elapsed = time.monotonic() - started

    # The old re-dispatch handed over 500 rows a minute: 2,000 took four minutes.
    assert elapsed < 30, f"2,000 emails took {elapsed:.1f}s"
    assert Counter(processes.emails_in(tmp_path)) == Counter(row.subject for row in backlog)


def test_a_frozen_broker_costs_a_transfer_nothing_and_every_email_leaves_once_after(user, tmp_path):
    source, target = funded_account("100.00", owner=user), AccountFactory()
    token, _ = tokens_issue(user=user)
    port = processes.free_port()
    # Only the broker freezes: the throttle's cache stays on the suite's own live Redis database.
    broker_env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0"}

    def transfer(key):
        body = {"fromAccount": str(source.id), "toAccount": str(target.id), "amount": "1.00", "idempotencyKey": key}
        started = time.monotonic()
        status, _, answer = web.request("POST", "/api/transactions", token=token, body=body)
        assert status == 201, answer
        return time.monotonic() - started

    with (
        processes.redis_server(port) as redis,
        processes.smtp_server() as smtp,
        processes.web_service(**broker_env) as web,
        relay_worker(tmp_path, **broker_env, EMAIL_URL=smtp.email_url),
    ):
        transfer("before")
        redis.send_signal(signal.SIGSTOP)
        try:
            frozen = [transfer(f"frozen-{n}") for n in range(5)]
            time.sleep(3)
        finally:
            redis.send_signal(signal.SIGCONT)
        unsent = OutboxEmail.objects.filter(sent_at__isnull=True)
        wait_for(lambda: not unsent.exists(), timeout=60, what="every email to be sent after the thaw")
        time.sleep(3)  # more relay rounds and any duplicate messages: none may send again

    assert max(frozen) < 0.5, f"transfers took {[round(t, 2) for t in frozen]}s with the broker frozen"
    rows = OutboxEmail.objects.order_by("id")
    assert len(rows) == 1 + 2 * 6  # the funding's email, then two per transfer
    assert sorted(smtp.message_ids()) == sorted(message_id(row.id) for row in rows)
