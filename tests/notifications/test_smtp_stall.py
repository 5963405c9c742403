"""A mail server that accepts and then says nothing must not hold an outbox row's lock for ever."""

import socket
import threading
import time

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from ledger_project.celery import app
from notifications.models import OutboxEmail
from notifications.services import outbox_email_send

# Far above the configured EMAIL_TIMEOUT: a send still running after this never gives up.
STALL_BOUND_SECONDS = 30


@pytest.fixture
def silent_smtp_server():
    """127.0.0.1:<port> that accepts connections and never sends a byte (no greeting)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def accept_forever():
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:  # the listener closed at teardown
                return

    threading.Thread(target=accept_forever, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()
    # Closing the connections ends a send that never timed out, so its thread does not outlive the test.
    for conn in accepted:
        conn.close()


def send_in_thread(outbox_id):
    """Run the send on its own database connection, as a worker would; returns (thread, outcome)."""
    outcome = {}

    def send():
        started = time.monotonic()
        try:
            outbox_email_send(outbox_id=outbox_id)
        except Exception as exc:
            outcome["error"] = exc
        finally:
            outcome["seconds"] = time.monotonic() - started
            connection.close()

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread, outcome


def row_is_locked(outbox_id):
    try:
        with transaction.atomic():
            OutboxEmail.objects.select_for_update(nowait=True).get(id=outbox_id)
    except DatabaseError:
        return True
    return False


# transactional_db: the row must be committed for the send's own connection to see and lock it.
def test_a_silent_mail_server_times_out_and_releases_the_row(transactional_db, settings, silent_smtp_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", silent_smtp_server
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    row = OutboxEmail.objects.create(to="ann@example.com", subject="Hi", body="Hello")

    thread, outcome = send_in_thread(row.id)
    deadline = time.monotonic() + 5
    while not row_is_locked(row.id):  # the send holds the lock while it waits for the server
        assert thread.is_alive() and time.monotonic() < deadline, outcome
        time.sleep(0.05)
    thread.join(STALL_BOUND_SECONDS)

    assert not thread.is_alive(), f"the send still waits on the silent server after {STALL_BOUND_SECONDS} s"
    assert "error" not in outcome  # a mail failure is recorded on the row, never raised
    assert outcome["seconds"] < settings.EMAIL_TIMEOUT + 2
    assert not row_is_locked(row.id)
    row.refresh_from_db()
    # Left for a retry: the attempt and the timeout are on the row, and it is due again later.
    assert (row.sent_at, row.failed_at, row.attempts) == (None, None, 1)
    assert "timed out" in row.last_error and row.next_attempt_at is not None


def test_task_time_limits_come_before_redelivery():
    """A stalled send times out first, then the soft limit rolls the task back, then the hard limit
    kills it, all before the broker hands the message to another worker."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]

    assert (app.conf.task_soft_time_limit, app.conf.task_time_limit) == (
        settings.CELERY_TASK_SOFT_TIME_LIMIT,
        settings.CELERY_TASK_TIME_LIMIT,
    )
    assert settings.EMAIL_TIMEOUT < app.conf.task_soft_time_limit < app.conf.task_time_limit < visibility
