from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db import transaction
from django.utils import timezone

from authn.services import WELCOME_BODY, WELCOME_SUBJECT
from notifications import tasks
from notifications.models import OutboxEmail
from notifications.services import email_enqueue, outbox_email_send, outbox_redispatch_unsent

SEND_TASK = "notifications.tasks.outbox_email_send"


def register(client, email="ann@example.com"):
    body = {"name": "Ann", "email": email, "password": "s3cure-pass-word"}
    response = client.post("/api/auth/register", body, format="json")
    assert response.status_code == 201, response.content
    return response


def test_registration_writes_one_outbox_row(client, db):
    register(client, email="Ann@Example.com")

    row = OutboxEmail.objects.get()
    assert (row.to, row.subject, row.body, row.sent_at) == (
        "ann@example.com",
        WELCOME_SUBJECT,
        WELCOME_BODY.format(name="Ann"),
        None,
    )


def test_registration_dispatches_the_email_on_commit(client, db, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        register(client)

    assert len(callbacks) == 1
    assert broker.published() == [(SEND_TASK, [OutboxEmail.objects.get().id])]


def test_nothing_is_dispatched_when_the_transaction_rolls_back(db, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            email_enqueue(to="ann@example.com", subject="Hi", body="Hello")
            raise RuntimeError("the change that caused the email failed")

    assert callbacks == []
    assert not OutboxEmail.objects.exists()
    assert broker.published() == []


@pytest.mark.parametrize(
    "send",
    [
        lambda outbox_id: outbox_email_send(outbox_id=outbox_id),
        lambda outbox_id: tasks.outbox_email_send(outbox_id) == 1,
        lambda outbox_id: tasks.outbox_email_send.apply(args=[outbox_id]).get() == 1,
    ],
    ids=["service", "task-call", "task-apply"],
)
def test_send_delivers_once(db, send):
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
    row.refresh_from_db()
    assert row.sent_at is not None


def test_send_of_an_unknown_row_sends_nothing(db):
    assert outbox_email_send(outbox_id=0) is False
    assert mail.outbox == []


def _row(*, age_seconds, sent=False):
    row = email_enqueue(to="ann@example.com", subject=f"{age_seconds}s old", body="Hello")
    # created_at is auto_now_add: back-date it around the ORM's save.
    OutboxEmail.objects.filter(id=row.id).update(
        created_at=timezone.now() - timedelta(seconds=age_seconds),
        sent_at=timezone.now() if sent else None,
    )
    return row


@pytest.mark.parametrize(
    "redispatch",
    [lambda: outbox_redispatch_unsent(), lambda: tasks.outbox_redispatch_unsent()],
    ids=["service", "task"],
)
def test_redispatch_publishes_only_unsent_rows_past_the_grace_period(db, broker, settings, redispatch):
    settings.OUTBOX_REDISPATCH_AFTER_SECONDS = 60
    older, old = _row(age_seconds=300), _row(age_seconds=61)
    _row(age_seconds=10)  # its first dispatch may still be on the way
    _row(age_seconds=300, sent=True)

    assert redispatch() == 2

    assert broker.published() == [(SEND_TASK, [older.id, old.id])]


def test_redispatch_with_nothing_to_do(db, broker):
    _row(age_seconds=300, sent=True)

    assert outbox_redispatch_unsent() == 0
    assert broker.published() == []
