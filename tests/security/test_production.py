"""Production settings: Django's deployment checklist passes, DEBUG is off, CORS is closed, and
every answer carries the usual security headers (HSTS too, in production).

The production settings are loaded in a subprocess, as a deployment would load them, with a real
secret and nothing else from the developer's environment.
"""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from rest_framework.test import APIClient

from authn.services import tokens_issue
from ledger_project.settings.base import PUBLIC_KEYS, signing_key_refusal

BASE_DIR = Path(settings.BASE_DIR)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
EVIL_ORIGIN = "https://evil.example"

# Runs under the production settings: answers to a few requests that need no database.
PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client

def answer(response):
    return {"status": response.status_code, "headers": dict(response.headers)}

browser = Client(HTTP_HOST="localhost")
print(json.dumps({
    "debug": settings.DEBUG,
    "cors_origins": settings.CORS_ALLOWED_ORIGINS,
    "cors_all": getattr(settings, "CORS_ALLOW_ALL_ORIGINS", False),
    "body_limit": settings.MAX_REQUEST_BODY_BYTES,
    "plain_http": answer(browser.get("/api/nope")),
    "not_found": answer(browser.get("/api/nope", secure=True, HTTP_ORIGIN="$ORIGIN")),
    "too_large": answer(browser.post("/api/auth/login", "x" * 70000, content_type="application/json", secure=True)),
    "preflight": answer(browser.options("/api/transactions", secure=True, HTTP_ORIGIN="$ORIGIN",
                                        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")),
}))
""".replace("$ORIGIN", EVIL_ORIGIN)


def _production_env():
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "PYTHONPATH") if name in os.environ}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "ledger_project.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "WEBHOOK_SECRET_KEYS": Fernet.generate_key().decode(),
        # Pinned, in case a developer's .env says otherwise (base.py reads it for what is unset).
        "DEBUG": "false",
        "CORS_ALLOWED_ORIGINS": "",
    }


def _run(*args, **env):
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env={**_production_env(), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_deployment_checklist_passes():
    result = _run("manage.py", "check", "--deploy", "--fail-level", "DEBUG")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."


def test_production_refuses_to_start_without_a_secret():
    env = {k: v for k, v in _production_env().items() if k != "SECRET_KEY"}

    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


# --- signing keys ---------------------------------------------------------------------------------

WEAK_KEYS = {
    "short": secrets.token_urlsafe(36),  # 48 characters
    "repetitive": "ab" * 30,
}


@pytest.mark.parametrize("name", ["SECRET_KEY", "JWT_SIGNING_KEY"])
@pytest.mark.parametrize(
    "key", sorted(PUBLIC_KEYS) + list(WEAK_KEYS.values()), ids=sorted(PUBLIC_KEYS) + list(WEAK_KEYS)
)
def test_production_refuses_a_public_or_weak_key(name, key):
    result = _run("manage.py", "check", **{name: key})

    assert result.returncode != 0
    assert f"ImproperlyConfigured: {name} is" in result.stderr
    assert key not in result.stderr  # a refused key is not copied into the logs


def test_every_key_written_in_the_repository_is_refused():
    """A key committed anywhere (a default, an example, a compose file) is public: production must
    refuse it, so it must be in settings.base.PUBLIC_KEYS."""
    written = _keys_in_tracked_files()

    assert written, "the scan found not even the development defaults"
    assert written <= PUBLIC_KEYS, f"add to PUBLIC_KEYS in ledger_project/settings/base.py: {written - PUBLIC_KEYS}"
    assert all(signing_key_refusal(key) for key in PUBLIC_KEYS)
    assert signing_key_refusal(secrets.token_urlsafe(50)) is None


_KEY_NAME = r"(?:SECRET_KEY|SIGNING_KEY)"
# A literal given to a key-like name: a default of env(), a ${NAME:-default} in compose or shell,
# and NAME=value, NAME: value or ENV NAME value lines (in words here, or this comment would match).
_KEY_LITERALS = [
    re.compile(_KEY_NAME + r"\b.*?\bdefault\s*=\s*[\"']([^\"']+)[\"']"),
    re.compile(_KEY_NAME + r"[\"'\]]*\s*[:?]?=?\s*[\"']?\$\{\w+:-([^}]+)\}"),
    re.compile(_KEY_NAME + r"[\"'\]]*\s*(?:[:?]?=|:|\s)\s*[\"']?([\w\-+/.=]{4,})[\"']?\s*(?:#.*)?$", re.M),
]


def _keys_in_tracked_files() -> set[str]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=BASE_DIR, capture_output=True, check=True).stdout
    keys = set()
    for name in filter(None, names.decode().split("\0")):
        try:
            text = (BASE_DIR / name).read_text()
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary files, and files deleted in the work tree
        for pattern in _KEY_LITERALS:
            keys.update(pattern.findall(text))
    return keys


# --- which settings each entry point loads --------------------------------------------------------

ENTRY_POINTS = {
    "wsgi": ["-c", "import ledger_project.wsgi; from django.conf import settings; print(settings.SETTINGS_MODULE)"],
    "manage.py": ["manage.py", "shell", "-c", "from django.conf import settings; print(settings.SETTINGS_MODULE)"],
    "celery": [
        "-c",
        "from ledger_project.celery import app; from django.conf import settings; print(settings.SETTINGS_MODULE)",
    ],
}


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_every_entry_point_defaults_to_production(entry_point):
    env = {k: v for k, v in _production_env().items() if k != "DJANGO_SETTINGS_MODULE"}

    command = [sys.executable, *ENTRY_POINTS[entry_point]]
    with_key = subprocess.run(command, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    del env["SECRET_KEY"]
    without_key = subprocess.run(command, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)

    assert with_key.stdout.strip().splitlines()[-1] == "ledger_project.settings.production", with_key.stderr
    assert without_key.returncode != 0 and "SECRET_KEY" in without_key.stderr


def test_the_image_defaults_to_production():
    assert "DJANGO_SETTINGS_MODULE=ledger_project.settings.production" in (BASE_DIR / "Dockerfile").read_text()


@pytest.fixture(scope="module")
def production():
    result = _run("-c", PROBE)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_runs_without_debug_and_with_closed_cors(production):
    assert production["debug"] is False
    assert (production["cors_origins"], production["cors_all"]) == ([], False)
    assert production["body_limit"] == 64 * 1024


def test_production_sends_plain_http_to_https(production):
    assert production["plain_http"]["status"] == 301
    assert production["plain_http"]["headers"]["Location"] == "https://localhost/api/nope"


@pytest.mark.parametrize("answer", ["not_found", "too_large"])
def test_production_answers_carry_the_security_headers(production, answer):
    headers = production[answer]["headers"]

    assert {name: headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "Access-Control-Allow-Origin" not in headers


def test_production_lets_no_other_origin_in(production):
    preflight = production["preflight"]["headers"]

    assert not {name for name in preflight if name.startswith("Access-Control-")}
    assert "Access-Control-Allow-Origin" not in production["not_found"]["headers"]


def test_production_answers_errors_as_json(production):
    assert production["too_large"]["status"] == 413
    assert production["not_found"]["headers"]["Content-Type"] == "application/json"


# --- the same headers from the app as the suite runs it -----------------------------------------


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("get", "/api/auth/me", None),  # 200
        ("get", "/api/accounts/balance/nope", None),  # 404
        ("post", "/api/transactions", {"amount": "x"}),  # 400
        ("post", "/api/auth/login", "x" * (64 * 1024 + 1)),  # 413
    ],
)
def test_every_answer_carries_the_security_headers(auth_client, method, path, body):
    kwargs = {} if body is None else {"data": body, "content_type": "application/json"}
    if isinstance(body, dict):
        kwargs = {"data": body, "format": "json"}

    response = getattr(auth_client, method)(path, HTTP_ORIGIN=EVIL_ORIGIN, **kwargs)

    assert {name: response.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_server_error_is_json_without_a_trace(user, monkeypatch):
    from authn import apis

    monkeypatch.setattr(apis.MeApi, "get", lambda self, request: {}["secret internals"])
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user)[0]}")

    response = client.get("/api/auth/me")

    assert response.status_code == 500
    assert response.json() == {"message": "Internal server error.", "code": "server_error"}
    assert {name: response.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS
