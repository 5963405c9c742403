"""A real worker with beat's relay embedded, logging at INFO with the console email backend, as
`make run` does: its lines are JSON, a task's lines carry the task's id, the console email is
output at INFO (not a WARNING), and the relay's run every second leaves no line unless it handed
an email over."""

import json
import time

import pytest

from notifications.models import OutboxEmail
from notifications.services import email_enqueue

from . import processes

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_worker_logs_json_with_task_ids_and_keeps_the_relay_quiet(tmp_path):
    log_path = tmp_path / "worker.log"
    row = email_enqueue(to="quiet@example.com", subject="Subject-of-the-quiet-test", body="Hello")

    with (
        log_path.open("w") as log,
        processes.celery_worker(
            "--beat",
            "--schedule",
            str(tmp_path / "beat-schedule"),
            "--loglevel",
            "INFO",
            log=log,
            LOG_LEVEL="INFO",
            EMAIL_URL="consolemail://",
        ),
    ):
        processes.wait_for(
            lambda: OutboxEmail.objects.filter(id=row.id, sent_at__isnull=False).exists(),
            timeout=60,
            what="the email to be sent",
        )
        time.sleep(4)  # four more relay runs, with nothing to hand over

    raw = [line for line in log_path.read_text().splitlines() if line.strip()]
    # Celery prints its start-up banner (and, as root, a warning about that) and its shutdown
    # notice as plain text; every line in between is JSON.
    started = next(n for n, line in enumerate(raw) if "beat: Starting..." in line)
    stopped = next(n for n, line in enumerate(raw) if "Warm shutdown" in line)
    lines = [json.loads(line) for line in raw[started:stopped]]
    printed = [line for line in lines if "Subject-of-the-quiet-test" in line["event"]]
    assert printed and {line["level"] for line in printed} == {"info"}
    assert printed[0]["logger"] == "celery.redirected" and printed[0]["task"] == "notifications.tasks.outbox_email_send"
    handed = [line for line in lines if line["event"].startswith("handed 1 outbox emails")]
    assert len(handed) == 1 and handed[0]["task"] == "notifications.tasks.outbox_relay" and handed[0]["task_id"]
    assert not [line for line in lines if "outbox_relay" in line["event"] or "relay-outbox-emails" in line["event"]]
    assert not [line for line in lines if line["level"] in ("warning", "error", "critical")], "nothing went wrong"
