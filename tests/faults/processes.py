"""Real processes for the fault tests: the web service (gunicorn), Celery workers, a Redis of
their own, and PostgreSQL itself. Everything here talks to the test database, so the tests that
use it need committed data (`transaction=True`)."""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from contextlib import contextmanager
from http.client import HTTPConnection
from pathlib import Path

import psycopg
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    db = settings.DATABASES["default"]
    user = urllib.parse.quote(db.get("USER") or "")
    password = urllib.parse.quote(db.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db['NAME']}"


def connect(autocommit=False) -> psycopg.Connection:
    """A raw connection of its own (not Django's), to hold locks or kill backends."""
    db = settings.DATABASES["default"]
    return psycopg.connect(
        dbname=db["NAME"],
        host=db.get("HOST") or "localhost",
        port=db.get("PORT") or 5432,
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        autocommit=autocommit,
    )


def wait_for(predicate, *, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def lock_waiter_pid() -> int | None:
    """A backend of the test database that is waiting for a lock. Asked on a fresh connection:
    within one transaction PostgreSQL keeps showing the same snapshot of pg_stat_activity."""
    with connect(autocommit=True) as monitor:
        row = monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' LIMIT 1"
        ).fetchone()
    return row[0] if row else None


def terminate_backend(pid):
    with connect(autocommit=True) as monitor:
        monitor.execute("SELECT pg_terminate_backend(%s)", [pid])


def service_env(**overrides) -> dict:
    """The environment of a service process that shares this test's database and keys."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ledger_project.settings.local",
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "JWT_SIGNING_KEY": settings.SIMPLE_JWT["SIGNING_KEY"],
        "REDIS_URL": settings.CELERY_BROKER_URL,
        "CACHE_URL": settings.CACHES["default"]["LOCATION"],
        "THROTTLE_TRANSFER": "100000/min",
        "LOG_LEVEL": "WARNING",
    }
    env.update({key: str(value) for key, value in overrides.items()})
    return env


def _stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def web_service(*gunicorn_args, **env):
    """gunicorn with one worker and one thread, so every request reuses one database
    connection, as a long-running web process does; `gunicorn_args` add to or override that."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "ledger_project.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "1", "--no-control-socket", *gunicorn_args],
        cwd=ROOT,
        env=service_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = HttpClient(port)
    try:
        wait_for(client.is_up, what="the web service to answer")
        yield client
    finally:
        _stop(process)


@contextmanager
def celery_worker(*extra_args, **env):
    """A real worker (solo pool: tasks run in the process we can kill)."""
    process = subprocess.Popen(
        [str(BIN / "celery"), "-A", "ledger_project", "worker", "--pool", "solo", "--loglevel", "WARNING", *extra_args],
        cwd=ROOT,
        env=service_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        _stop(process)


@contextmanager
def redis_server(port):
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _answers(port), what=f"redis on {port}")
        yield process
    finally:
        _stop(process)


def _answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def postgresql_restart():
    """Restart the local PostgreSQL cluster, as an operator or a crash-restart would."""
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True, capture_output=True
    )
    wait_for(lambda: subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode == 0, what="PostgreSQL")


def emails_in(directory) -> list[str]:
    """Subjects of every message Django's file email backend wrote to `directory`."""
    subjects = []
    for path in glob.glob(os.path.join(directory, "*.log")):
        for line in Path(path).read_text().splitlines():
            if line.startswith("Subject: "):
                subjects.append(line[len("Subject: ") :])
    return subjects


class HttpClient:
    """Plain HTTP/1.1 to the service, one new connection per request."""

    def __init__(self, port):
        self.port = port

    def request(self, method, path, *, token=None, body=None, timeout=10):
        conn = HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), json.loads(response.read() or b"null")
        finally:
            conn.close()

    def is_up(self):
        try:
            return self.request("GET", "/api/health", timeout=1)[0] in (200, 503)
        except OSError:
            return False

    def send_and_hang_up(self, method, path, *, token, body):
        """Send a request and close the socket without reading the answer, like a client whose
        connection dropped."""
        payload = json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", self.port)) as sock:
            sock.sendall(head + payload)
