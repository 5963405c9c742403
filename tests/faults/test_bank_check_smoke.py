"""The bank check (tests/bankcheck/), briefly: its own gunicorn on a scratch database and its
own redis-server, 4 clients for 5 s with the nemesis killing a backend every second, then every
check. About 15 s; the real run is `make bank-check` (60 s, 32 clients)."""

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import redis
from django.conf import settings

from tests.stack import Stack

ROOT = Path(__file__).resolve().parents[2]


def test_bank_check_passes_with_backends_killed():
    # A database of its own, so two suites running at once never drop each other's.
    database = f"ledger_bankcheck_smoke_{uuid.uuid4().hex[:8]}"
    # Given the suite's own Redis databases as its REDIS_URL and --redis-dbs, the check still
    # leaves them alone: it flushes only a redis-server it started itself.
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.set("bank-check-canary", "alive")
    suite_dbs = [
        urlsplit(url).path.lstrip("/") for url in (settings.CACHES["default"]["LOCATION"], settings.CELERY_BROKER_URL)
    ]
    command = [
        sys.executable,
        "-m",
        "tests.bankcheck",
        "--seconds",
        "5",
        "--clients",
        "4",
        "--nemesis",
        "--nemesis-interval",
        "1",
        "--database",
        database,
        "--seed",
        "smoke",
        "--redis-dbs",
        ",".join(suite_dbs),
    ]
    env = {**os.environ, "REDIS_URL": settings.CELERY_BROKER_URL}
    try:
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    finally:
        stack = Stack(database=database)
        stack.database_drop()
        stack.log_path.unlink(missing_ok=True)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "bank check: PASS" in result.stdout.splitlines(), output
    assert "nemesis     " in result.stdout, output
    assert broker.get("bank-check-canary") == b"alive", output
    broker.delete("bank-check-canary")
