import smtplib
import threading
from datetime import timedelta

import pytest
from celery.signals import task_retry
from django.conf import settings
from django.core import mail
from django.db import connections, transaction
from django.utils import timezone

from authn.services import WELCOME_BODY, WELCOME_SUBJECT
from notifications import tasks
from notifications.models import OutboxEmail
from notifications.services import email_enqueue, outbox_email_send, outbox_error_is_permanent, outbox_relay
from tests.concurrency import run_concurrently
from tests.faults.processes import connect, smtp_server

SEND_TASK = "notifications.tasks.outbox_email_send"


def register(client, email="ann@example.com"):
    body = {"name": "Ann", "email": email, "password": "s3cure-pass-word"}
    response = client.post("/api/auth/register", body, format="json")
    assert response.status_code == 201, response.content
    return response


@pytest.fixture
def smtp(settings):
    """Django's own SMTP backend talking to a real SMTP server that refuses one address for good
    and defers another."""
    with smtp_server(refuse=["gone@example.com"], defer=["busy@example.com"]) as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", int(sink.email_url.rpartition(":")[2])
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        yield sink


def test_registration_writes_one_outbox_row(client, db):
    register(client, email="Ann@Example.com")

    row = OutboxEmail.objects.get()
    assert (row.to, row.subject, row.body, row.sent_at, row.failed_at, row.attempts) == (
        "ann@example.com",
        WELCOME_SUBJECT,
        WELCOME_BODY.format(name="Ann"),
        None,
        None,
        0,
    )


def test_the_request_path_publishes_nothing(client, db, broker, django_capture_on_commit_callbacks):
    # The relay hands rows to Celery off the request path: a frozen broker costs a request nothing.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        register(client)

    assert callbacks == []
    assert broker.published() == []
    assert OutboxEmail.objects.due(timezone.now()).count() == 1


def test_nothing_is_written_when_the_transaction_rolls_back(db):
    with pytest.raises(RuntimeError), transaction.atomic():
        email_enqueue(to="ann@example.com", subject="Hi", body="Hello")
        raise RuntimeError("the change that caused the email failed")

    assert not OutboxEmail.objects.exists()


@pytest.mark.parametrize(
    "send",
    [
        lambda outbox_id: outbox_email_send(outbox_id=outbox_id),
        lambda outbox_id: tasks.outbox_email_send(outbox_id) == 1,
        lambda outbox_id: tasks.outbox_email_send.apply(args=[outbox_id]).get() == 1,
    ],
    ids=["service", "task-call", "task-apply"],
)
def test_send_delivers_once_with_a_stable_message_id(db, send):
    row = email_enqueue(to="ann@example.com", subject="Hi", body="Hello")

    assert send(row.id) is True
    assert send(row.id) is False

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert (message.to, message.subject, message.body, message.from_email) == (
        ["ann@example.com"],
        "Hi",
        "Hello",
        settings.DEFAULT_FROM_EMAIL,
    )
    assert message.message()["Message-ID"] == f"<outbox-{row.id}@ledger.local>"
    row.refresh_from_db()
    assert row.sent_at is not None and row.attempts == 1


def test_send_of_an_unknown_row_sends_nothing(db):
    assert outbox_email_send(outbox_id=0) is False
    assert mail.outbox == []


def _row(*, to="ann@example.com", due_in_seconds=0, **state):
    row = email_enqueue(to=to, subject=f"to {to}", body="Hello")
    OutboxEmail.objects.filter(id=row.id).update(
        next_attempt_at=timezone.now() + timedelta(seconds=due_in_seconds), **state
    )
    return row


@pytest.mark.parametrize("relay", [lambda: outbox_relay(), lambda: tasks.outbox_relay()], ids=["service", "task"])
def test_the_relay_hands_over_the_due_rows_once_per_lease(db, broker, relay):
    older, old = _row(due_in_seconds=-300), _row(due_in_seconds=-1)
    _row(due_in_seconds=30)  # leased: handed over recently, or waiting for its retry
    _row(sent_at=timezone.now())
    _row(failed_at=timezone.now())

    assert relay() == 2
    assert broker.published() == [(SEND_TASK, [older.id, old.id])]

    # Leased now: the next runs hand nothing over again while a worker sends them.
    assert relay() == 0
    leased_until = OutboxEmail.objects.get(id=older.id).next_attempt_at
    assert leased_until > timezone.now() + timedelta(seconds=settings.OUTBOX_REDISPATCH_AFTER_SECONDS - 5)


def test_a_relay_run_ends_even_without_a_lease(db, broker, settings):
    # Only the rows due when the run started: a row it hands over is never handed again by the same run.
    settings.OUTBOX_REDISPATCH_AFTER_SECONDS = 0
    row = _row(due_in_seconds=-1)

    assert outbox_relay() == 1
    assert broker.published() == [(SEND_TASK, [row.id])]


def test_the_relay_drains_a_backlog_in_one_run_in_small_chunks(db, broker):
    backlog = OutboxEmail.objects.bulk_create(
        OutboxEmail(to=f"u{n}@example.com", subject="s", body="b") for n in range(1234)
    )

    assert outbox_relay() == 1234

    messages = broker.published()
    assert len(messages) == 25 and all(len(ids) <= settings.OUTBOX_RELAY_CHUNK_SIZE for _, ids in messages)
    assert sorted(i for _, ids in messages for i in ids) == sorted(row.id for row in backlog)


@pytest.mark.django_db(transaction=True)
def test_relays_running_at_once_share_the_backlog_without_handing_a_row_twice(broker):
    backlog = OutboxEmail.objects.bulk_create(
        OutboxEmail(to=f"u{n}@example.com", subject="s", body="b") for n in range(2000)
    )

    results, errors = run_concurrently([lambda: outbox_relay(chunk_size=10)] * 4, workers=4)

    assert errors == [None] * 4 and sum(results) == 2000
    handed = [i for _, ids in broker.published() for i in ids]
    assert sorted(handed) == sorted(row.id for row in backlog)


def test_a_bad_address_fails_its_own_row_and_the_rest_of_the_chunk_is_sent(db):
    # Refused when its To: header is built (the U+2028 in a domain).
    bad = email_enqueue(to="x@exa\u2028mple.com", subject="bad", body="b")
    good = email_enqueue(to="ann@example.com", subject="good", body="b")

    assert tasks.outbox_email_send(bad.id, good.id) == 1

    assert [message.subject for message in mail.outbox] == ["good"]
    bad.refresh_from_db()
    # Failed at its first attempt: no retry can make that header.
    assert (bad.status, bad.attempts) == ("failed", 1) and "\\u2028" in bad.last_error
    assert not OutboxEmail.objects.due(timezone.now()).filter(id=bad.id).exists()


def test_a_recipient_refused_for_good_is_failed_at_once_and_blocks_nobody(db, smtp):
    refused = email_enqueue(to="gone@example.com", subject="refused", body="b")
    others = [email_enqueue(to=f"user{n}@example.com", subject=f"ok {n}", body="b") for n in range(3)]

    assert tasks.outbox_email_send(refused.id, *(row.id for row in others)) == 3

    assert sorted(message["To"] for message in smtp.messages) == sorted(row.to for row in others)
    assert smtp.message_ids() == [f"<outbox-{row.id}@ledger.local>" for row in others]
    refused.refresh_from_db()
    assert (refused.status, refused.attempts) == ("failed", 1)
    assert refused.last_error.startswith("SMTPRecipientsRefused") and "550" in refused.last_error
    # A dead letter: the relay never hands it over again.
    assert not OutboxEmail.objects.due(timezone.now()).filter(id=refused.id).exists()


def test_a_passing_refusal_is_retried_with_backoff_then_failed(db, smtp, settings):
    settings.OUTBOX_MAX_ATTEMPTS, settings.OUTBOX_RETRY_BACKOFF_SECONDS = 3, 30
    row = email_enqueue(to="busy@example.com", subject="deferred", body="b")

    delays = []
    for attempt in range(1, 4):
        started = timezone.now()
        assert outbox_email_send(outbox_id=row.id) is False
        row.refresh_from_db()
        assert row.attempts == attempt and "451" in row.last_error
        delays.append(round((row.next_attempt_at - started).total_seconds()))
        OutboxEmail.objects.filter(id=row.id).update(next_attempt_at=timezone.now())  # as if the wait passed

    assert delays[:2] == [30, 60]  # doubling; the third attempt was the last
    assert row.status == "failed" and smtp.messages == []


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"no such user")}), True),
        (smtplib.SMTPRecipientsRefused({"a@example.com": (450, b"mailbox busy")}), False),
        (smtplib.SMTPDataError(554, b"message refused"), True),
        (smtplib.SMTPDataError(451, b"try later"), False),
        (smtplib.SMTPSenderRefused(550, b"sender refused", "no-reply@ledger.local"), False),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), False),
        (smtplib.SMTPServerDisconnected("gone"), False),
        (ConnectionRefusedError(), False),
        (ValueError("Invalid address"), True),
    ],
)
def test_which_mail_errors_are_permanent(error, permanent):
    assert outbox_error_is_permanent(error) is permanent


@pytest.mark.django_db(transaction=True)
def test_a_database_error_in_the_send_task_is_retried_not_dropped(settings):
    row = email_enqueue(to="ann@example.com", subject="Hi", body="Hello")
    # Another session holds the row: the task's first attempt gives up on the lock (lock_timeout,
    # an OperationalError); the lock is released while it backs off, and a retry sends it.
    blocker = connect()
    blocker.execute("SELECT id FROM notifications_outboxemail WHERE id = %s FOR UPDATE", [row.id])
    retried = threading.Event()
    task_retry.connect(lambda **kwargs: retried.set(), sender=tasks.outbox_email_send, weak=False)
    outcome = {}

    def send():
        try:
            outcome["result"] = tasks.outbox_email_send.apply(args=[row.id])
        finally:
            connections.close_all()

    worker = threading.Thread(target=send)
    worker.start()
    try:
        assert retried.wait(timeout=settings.DB_LOCK_TIMEOUT_MS / 1000 + 10), "the first attempt was not retried"
    finally:
        blocker.rollback()
        blocker.close()
        worker.join()

    result = outcome["result"]
    assert result.successful(), result.traceback
    assert result.get() == 1
    assert len(mail.outbox) == 1 and OutboxEmail.objects.get(id=row.id).sent_at is not None
