"""Faults the service survives: every one ends with nothing half-written and nothing lost.

The database and Redis here are the real ones, broken for real: a backend terminated, a lock held
by another session, a PostgreSQL of the test's own restarted, a Redis server of its own stopped,
a Celery worker killed.
"""

import signal
import threading
import time
import uuid

import pytest
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from authn.services import tokens_issue
from notifications.models import OutboxEmail
from notifications.services import email_enqueue, outbox_relay
from notifications.tasks import outbox_email_send
from tests.factories import AccountFactory, funded_account
from tests.transactions.requests import TRANSACTIONS, transfer_body
from transactions.audit import ledger_verify
from transactions.models import IdempotencyKey, Transaction

from . import processes
from .processes import connect, lock_waiter_pid, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def accounts(user):
    return funded_account("100.00", owner=user), AccountFactory()


def transactions_with_key(key):
    return Transaction.objects.filter(idempotency__key=key).count()


def assert_nothing_written(key, source, target):
    assert transactions_with_key(key) == 0
    assert not IdempotencyKey.objects.filter(key=key).exists()
    source.refresh_from_db()
    target.refresh_from_db()
    assert (source.balance, target.balance) == (100_00, 0)


def assert_unavailable(status, headers, body):
    assert status == 503
    assert body == {"message": "The service is temporarily unavailable. Retry later.", "code": "service_unavailable"}
    assert headers["Retry-After"] == "1"


def test_a_backend_killed_mid_transfer_leaves_nothing_and_the_retry_completes_once(auth_client, accounts, settings):
    # With the in-request retries off, the contract's 503 (tests/faults/test_db_retry.py has them on).
    settings.DB_RETRY_SECONDS = 0
    source, target = accounts
    body = transfer_body(source, target, "10.00", key="killed")
    # Hold the outbox table: the transfer blocks on its last insert, after it has locked both
    # accounts and written the transaction, entries and balances (all uncommitted).
    blocker = connect()
    blocker.execute("LOCK TABLE notifications_outboxemail IN ACCESS EXCLUSIVE MODE")
    outcome = {}

    def transfer():
        try:
            outcome["response"] = auth_client.post(TRANSACTIONS, body, format="json")
        finally:
            connections.close_all()

    thread = threading.Thread(target=transfer)
    thread.start()
    pid = wait_for(lock_waiter_pid, what="the transfer to block mid-way")
    processes.terminate_backend(pid)
    blocker.rollback()
    blocker.close()
    thread.join()

    response = outcome["response"]
    assert_unavailable(response.status_code, response.headers, response.json())
    assert_nothing_written("killed", source, target)

    retry = auth_client.post(TRANSACTIONS, body, format="json")
    assert retry.status_code == 201, retry.content
    assert auth_client.post(TRANSACTIONS, body, format="json").status_code == 200
    assert transactions_with_key("killed") == 1
    assert ledger_verify().ok


def test_lock_and_statement_timeouts_are_configured_on_every_connection():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, setting, unit FROM pg_settings WHERE name IN ('lock_timeout', 'statement_timeout') ORDER BY name"
        )
        assert cursor.fetchall() == [
            ("lock_timeout", str(settings.DB_LOCK_TIMEOUT_MS), "ms"),
            ("statement_timeout", str(settings.DB_STATEMENT_TIMEOUT_MS), "ms"),
        ]


def test_a_row_lock_held_elsewhere_gives_up_with_503_and_writes_nothing(auth_client, accounts):
    source, target = accounts
    body = transfer_body(source, target, "10.00", key="locked")
    blocker = connect()
    blocker.execute("SELECT id FROM accounts_account WHERE id = %s FOR UPDATE", [source.id])
    with connection.cursor() as cursor:
        # The configured timeout (1 s by default) is checked above; a shorter one keeps this quick.
        cursor.execute("SET lock_timeout = '300ms'")
    try:
        response = auth_client.post(TRANSACTIONS, body, format="json")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
        blocker.rollback()
        blocker.close()

    assert_unavailable(response.status_code, response.headers, response.json())
    assert_nothing_written("locked", source, target)
    assert auth_client.post(TRANSACTIONS, body, format="json").status_code == 201


def test_a_client_that_lost_the_response_gets_the_committed_outcome_again(user, accounts):
    source, target = accounts
    token, _ = tokens_issue(user=user)
    body = transfer_body(source, target, "10.00", key="lost-response")
    with processes.web_service() as web:
        web.send_and_hang_up("POST", TRANSACTIONS, token=token, body=body)
        wait_for(lambda: transactions_with_key("lost-response"), what="the transfer to commit")

        status, headers, answer = web.request("POST", TRANSACTIONS, token=token, body=body)

    assert status == 200 and headers["Idempotent-Replayed"] == "true"
    assert answer["message"] == "Transaction already processed"
    assert transactions_with_key("lost-response") == 1


def test_the_web_process_survives_a_postgresql_restart():
    # A server of the test's own: restarting the machine's shared one would break everyone else.
    with (
        processes.postgresql_server() as postgresql,
        processes.web_service(DATABASE_URL=postgresql.database_url) as web,
    ):
        [(token, source, target)] = processes.customers_seed(web, database_url=postgresql.database_url)
        assert web.request("GET", "/api/accounts", token=token)[0] == 200  # its connection is open

        postgresql.restart()

        # The very first requests afterwards succeed: the stale connection is health-checked
        # and replaced, no restart of the web process.
        assert web.request("GET", "/api/accounts", token=token)[0] == 200
        body = {"fromAccount": source, "toAccount": target, "amount": "10.00", "idempotencyKey": "after"}
        status, _, answer = web.request("POST", TRANSACTIONS, token=token, body=body)
    assert status == 201, answer


def test_transfers_commit_while_redis_is_down_and_the_relay_sends_every_email_once(user, accounts, tmp_path):
    source, target = accounts
    token, _ = tokens_issue(user=user)
    port = processes.free_port()
    redis_env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0", "CACHE_URL": f"redis://127.0.0.1:{port}/1"}
    mail_env = {"EMAIL_URL": f"filemail:///{tmp_path}"}

    emails_before = OutboxEmail.objects.count()  # the funding's, sent long ago in real life
    OutboxEmail.objects.update(sent_at=timezone.now())

    with processes.redis_server(port) as redis, processes.web_service(**redis_env) as web:
        redis.terminate()
        redis.wait()
        for n in range(3):
            started = time.monotonic()
            status, _, answer = web.request(
                "POST", TRANSACTIONS, token=token, body=transfer_body(source, target, "10.00", key=f"r{n}")
            )
            elapsed = time.monotonic() - started
            assert status == 201, answer
            # A hang guard, not a benchmark: waiting on the broker would cost its 1 s timeout
            # per connection attempt, and retries would multiply it.
            assert elapsed < 2, f"transfer took {elapsed:.2f}s with Redis down"

    unsent = OutboxEmail.objects.filter(sent_at__isnull=True)
    assert unsent.count() == 6 and OutboxEmail.objects.count() == emails_before + 6

    # Redis is back: beat's relay hands the unsent rows over every second and a worker sends them.
    with (
        processes.redis_server(port),
        processes.celery_worker(
            "--beat",
            "--schedule",
            str(tmp_path / "beat-schedule"),
            OUTBOX_RELAY_INTERVAL_SECONDS=1,
            **redis_env,
            **mail_env,
        ),
    ):
        wait_for(lambda: not unsent.exists(), timeout=60, what="every outbox row to be sent")
        time.sleep(3)  # a few more relay rounds: none may send again

    assert len(processes.emails_in(tmp_path)) == 6
    assert ledger_verify().ok


def test_a_worker_killed_while_sending_leaves_the_email_for_the_next_worker_and_sends_once(broker, tmp_path):
    env = {"EMAIL_URL": f"filemail:///{tmp_path}", "CELERY_VISIBILITY_TIMEOUT": 2}
    row = email_enqueue(to="someone@example.com", subject=f"killed-{uuid.uuid4()}", body="hello")
    assert outbox_relay() == 1
    assert broker.published() == [("notifications.tasks.outbox_email_send", [row.id])]
    # Hold the row: the worker's task blocks inside its transaction, mid-send.
    blocker = connect()
    blocker.execute("SELECT id FROM notifications_outboxemail WHERE id = %s FOR UPDATE", [row.id])

    with processes.celery_worker(**env) as worker:
        wait_for(lock_waiter_pid, what="the worker to be sending")
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    blocker.rollback()
    blocker.close()
    row.refresh_from_db()
    assert row.sent_at is None and processes.emails_in(tmp_path) == []

    time.sleep(2.5)  # past the visibility timeout: the unacknowledged message is delivered again
    with processes.celery_worker(**env):
        wait_for(lambda: OutboxEmail.objects.get(id=row.id).sent_at, timeout=30, what="the row to be sent")
        # The same message delivered twice more: the row is sent already, nothing goes out.
        outbox_email_send.apply_async(args=[row.id])
        outbox_email_send.apply_async(args=[row.id])
        wait_for(lambda: not broker.redis.llen(broker.queue), what="the queue to drain")
        time.sleep(1)

    assert processes.emails_in(tmp_path) == [row.subject]
