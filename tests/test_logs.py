"""Structured logs (ledger_project/logs.py): JSON lines, the request id on every line of a request
and in `X-Request-Id`, the task id on a task's lines, no secret in any line, and beat's relay
quiet. tests/faults/test_observability.py reads a real gunicorn's log."""

import io
import json
import logging
import re
import subprocess
from pathlib import Path

import pytest
import structlog
from django.conf import settings

from authn.tasks import blacklist_purge_expired
from ledger_project import logs
from ledger_project.celery import app
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[1]
NEW_ID = re.compile(r"[0-9a-f]{32}")
LOGIN = "/api/auth/login"


@pytest.fixture
def log_lines():
    """Everything logged while the test runs, at every level, as the shipped handler writes it;
    a function returning the JSON objects so far."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.json_formatter())
    handler.addFilter(logs.RelayChatterFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    structlog.contextvars.clear_contextvars()

    def lines():
        text = stream.getvalue()
        lines.text = text
        return [json.loads(line) for line in text.splitlines()]

    yield lines
    root.removeHandler(handler)
    root.setLevel(level)
    structlog.contextvars.clear_contextvars()


def test_the_shipped_configuration_writes_json_through_the_relay_filter():
    handler = settings.LOGGING["handlers"]["console"]
    assert settings.LOGGING["formatters"][handler["formatter"]]["()"] == "ledger_project.logs.json_formatter"
    assert settings.LOGGING["filters"][handler["filters"][0]]["()"] == "ledger_project.logs.RelayChatterFilter"
    assert settings.LOGGING["root"]["handlers"] == ["console"]


# --- The request id ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/health", "/api/nowhere", "/api/accounts", "/api/health?x=%00", "/admin/login/", "/metrics"]
)
def test_every_answer_carries_a_new_request_id(client, db, path):
    assert NEW_ID.fullmatch(client.get(path)["X-Request-Id"])


def test_a_clients_own_request_id_is_ignored_without_a_trusted_proxy(client, db, settings):
    settings.TRUSTED_PROXY_COUNT = 0

    answered = client.get("/api/health", HTTP_X_REQUEST_ID="my-own-request-id")["X-Request-Id"]

    assert answered != "my-own-request-id" and NEW_ID.fullmatch(answered)


@pytest.mark.parametrize(
    "proposed, kept",
    [
        ("0123456789abcdef0123456789abcdef", True),  # nginx's $request_id
        ("6f1c1f8e-0b7e-4c57-9c1a-3f0d2b7d9a10", True),  # a UUID
        ("lb.req_42-x", True),
        ("short", False),
        ("x" * 129, False),
        ("has space 12345", False),
        ('"quoted","json"', False),
        ("id\u2028with-separator", False),
        ("", False),
    ],
)
def test_behind_a_trusted_proxy_its_id_is_kept_if_it_looks_like_one(client, db, settings, proposed, kept):
    settings.TRUSTED_PROXY_COUNT = 1

    answered = client.get("/api/health", HTTP_X_REQUEST_ID=proposed)["X-Request-Id"]

    assert answered == proposed if kept else NEW_ID.fullmatch(answered)


def test_every_line_of_a_request_carries_its_id(client, user, log_lines, monkeypatch):
    from authn import apis

    original = apis.user_login

    def user_login_logged(**credentials):
        logging.getLogger("authn.services").info("login attempt")
        return original(**credentials)

    monkeypatch.setattr(apis, "user_login", user_login_logged)

    response = client.post(LOGIN, {"email": user.email, "password": "wrong-one"}, format="json")

    assert response.status_code == 401
    lines = log_lines()
    assert {line["event"] for line in lines} >= {"login attempt", f"Unauthorized: {LOGIN}"}
    assert {line.get("request_id") for line in lines} == {response["X-Request-Id"]}


# --- No secrets -------------------------------------------------------------------------------


def test_no_password_or_token_reaches_the_log(client, user, log_lines, monkeypatch):
    good = client.post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json")
    token = good.json()["token"]
    client.post(LOGIN, {"email": user.email, "password": f"{PASSWORD}-typo"}, format="json")
    client.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    client.get(f"/api/accounts?token={token}", HTTP_AUTHORIZATION=f"Bearer {token}tampered")
    # A login that crashes: Django logs the traceback, whose frames hold the password.
    from authn import apis

    def user_login_broken(*, email, password):
        raise RuntimeError("the password backend is down")

    monkeypatch.setattr(apis, "user_login", user_login_broken)
    client.raise_request_exception = False
    crashed = client.post(LOGIN, {"email": user.email, "password": f"{PASSWORD}-crash"}, format="json")

    assert (good.status_code, crashed.status_code) == (200, 500)
    log_lines()
    text = log_lines.text
    for secret in [PASSWORD, token, token.split(".")[1], token.split(".")[2]]:
        assert secret not in text
    assert "RuntimeError: the password backend is down" in text  # the traceback itself is kept


def test_a_credential_quoted_by_a_library_is_redacted(log_lines):
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.c2lnbmF0dXJlLXZhbHVl"
    logging.getLogger("some.library").warning("refused header Authorization: Bearer %s", "opaque-api-key-123")
    logging.getLogger("some.library").warning("bad token %s in cookie", jwt)
    structlog.get_logger("ours").info("login", password="hunter2-long", refresh="r-token-value")

    text = (log_lines(), log_lines.text)[1]

    for secret in ["opaque-api-key-123", jwt, "hunter2-long", "r-token-value"]:
        assert secret not in text
    assert text.count(logs.REDACTED) == 4


# --- Celery -----------------------------------------------------------------------------------


def test_a_tasks_lines_carry_its_id_and_name(db, log_lines):
    result = blacklist_purge_expired.apply()

    lines = [line for line in log_lines() if line["event"].startswith("purged")]
    assert lines and lines[0]["task_id"] == result.id
    assert lines[0]["task"] == "authn.tasks.blacklist_purge_expired"
    assert structlog.contextvars.get_contextvars() == {}  # nothing left for the next task


def celery_line(name, message, *args):
    logging.getLogger(name).info(message, *args)


def test_the_relays_chatter_is_dropped_and_everything_else_kept(log_lines):
    logging.getLogger().setLevel(logging.INFO)
    relay = "notifications.tasks.outbox_relay"
    celery_line("celery.beat", "Scheduler: Sending due task %s (%s)", "relay-outbox-emails", relay)
    celery_line("celery.worker.strategy", "Task %(name)s[%(id)s] received", {"name": relay, "id": "1"})
    celery_line("celery.app.trace", "Task %(name)s[%(id)s] succeeded", {"name": relay, "id": "1"})
    celery_line("celery.worker.request", "Discarding revoked task: %s[%s]", relay, "0")
    kept = [
        (
            "celery.beat",
            "Scheduler: Sending due task %s (%s)",
            "verify-ledger-nightly",
            "transactions.tasks.ledger_audit",
        ),
        ("notifications.tasks", "handed %d outbox emails to the workers", 3),
    ]
    for line in kept:
        celery_line(*line)
    logging.getLogger("celery.app.trace").error("Task %(name)s[%(id)s] raised", {"name": relay, "id": "2"})

    events = [line["event"] for line in log_lines()]

    assert events == [
        "Scheduler: Sending due task verify-ledger-nightly (transactions.tasks.ledger_audit)",
        "handed 3 outbox emails to the workers",
        f"Task {relay}[2] raised",
    ]


def test_at_debug_the_relay_is_heard(log_lines):
    celery_line("celery.beat", "Scheduler: Sending due task %s (%s)", "relay-outbox-emails", logs.RELAY_TASK)

    assert len(log_lines()) == 1


# --- Beat's schedule file and the worker's stdout (item 13) -----------------------------------


def test_beat_keeps_its_schedule_in_the_checkout_and_out_of_git():
    assert app.conf.beat_schedule_filename == str(ROOT / "var" / "celerybeat-schedule")
    ignored = subprocess.run(["git", "check-ignore", "-q", "var/celerybeat-schedule"], cwd=ROOT, check=False)
    assert ignored.returncode == 0
    for launcher in ["Procfile", "docker-compose.yml"]:
        lines = (ROOT / launcher).read_text().splitlines()
        assert not [line for line in lines if "beat" in line and "/tmp/" in line], launcher


def test_what_a_task_prints_is_logged_at_info():
    assert app.conf.worker_redirect_stdouts_level == "INFO"
