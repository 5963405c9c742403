"""Real processes for the fault tests: the web service (gunicorn), Celery workers, and a Redis and
a PostgreSQL of their own. Unless told otherwise, everything here talks to the test database, so
the tests that use it need committed data (`transaction=True`). A test that must break a service
starts its own with these launchers: the machine's shared PostgreSQL and Redis are never stopped,
restarted or flushed."""

import email
import glob
import json
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from contextlib import contextmanager
from http.client import HTTPConnection
from pathlib import Path

import psycopg
import pytest
from aiosmtpd.controller import Controller
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
            # gunicorn leads a session of its own: its workers go with it.
            if os.getpgid(process.pid) == process.pid:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
            process.wait()


@contextmanager
def gunicorn(*gunicorn_args, env, wsgi_app="ledger_project.wsgi", log=subprocess.DEVNULL):
    """gunicorn on a free 127.0.0.1 port, yielded as an HttpClient once /api/health answers.
    The one launcher of the web for the fault tests, the bank check and the bench (tests/stack.py)."""
    port = free_port()
    process = subprocess.Popen(
        # The default control socket is one path per machine user: several servers would share it.
        [str(BIN / "gunicorn"), wsgi_app, "--bind", f"127.0.0.1:{port}", "--no-control-socket", *gunicorn_args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    client = HttpClient(port, process)
    try:
        wait_for(lambda: process.poll() is not None or client.is_up(), what=f"gunicorn on port {port} to answer")
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn on port {port} exited with status {process.returncode}")
        yield client
    finally:
        _stop(process)


@contextmanager
def web_service(*gunicorn_args, **env):
    """gunicorn with one worker and one thread, so every request reuses one database
    connection, as a long-running web process does; `gunicorn_args` add to or override that."""
    with gunicorn("--workers", "1", "--threads", "1", *gunicorn_args, env=service_env(**env)) as client:
        yield client


@contextmanager
def celery_worker(*extra_args, log=subprocess.DEVNULL, **env):
    """A real worker (solo pool: tasks run in the process we can kill); its output to `log`.
    Like the Procfile's, it counts no database queries: it serves no /metrics."""
    process = subprocess.Popen(
        [str(BIN / "celery"), "-A", "ledger_project", "worker", "--pool", "solo", "--loglevel", "WARNING", *extra_args],
        cwd=ROOT,
        env=service_env(**{"METRICS_DB_QUERIES": "false", **env}),
        stdout=log,
        stderr=subprocess.STDOUT,
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


def _postgresql_bindir() -> Path | None:
    """Debian's server binaries (initdb, pg_ctl) of the newest installed version."""
    try:
        bindir = Path(
            subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        bindir = None
    if bindir is None or not (bindir / "initdb").exists():
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[4]))
        bindir = Path(found[-1]).parent if found else None
    return bindir


def _server_owner() -> dict:
    """PostgreSQL refuses to run as root: a suite running as root runs the server as `postgres`."""
    if os.geteuid() != 0:
        return {}
    try:
        return {"user": "postgres", "group": pwd.getpwnam("postgres").pw_gid}
    except KeyError:
        pytest.skip("running as root with no `postgres` user to run a PostgreSQL server as")


class PostgreSQL:
    """A server of the test's own, in a temporary directory, holding a migrated `ledger` database
    (`database_url`). Tests restart or starve it; the machine's shared server is never touched."""

    def __init__(self, bindir: Path, home: Path, port: int, settings: dict):
        self.bindir, self.home, self.port = bindir, home, port
        self.datadir = home / "data"
        self.options = " ".join(f"-c {name}={value}" for name, value in settings.items())
        self.database_url = f"postgres://postgres@127.0.0.1:{port}/ledger"

    def run(self, program, *args):
        command = [str(self.bindir / program), *map(str, args)]
        subprocess.run(command, check=True, capture_output=True, **_server_owner())

    def pg_ctl(self, *args):
        # The server's output goes to its log, never to our pipes (which would then never close).
        self.run("pg_ctl", "-D", self.datadir, "-l", self.home / "server.log", "-w", "-t", "60", *args)

    def start(self):
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.home} {self.options}"
        self.pg_ctl("start", "-o", options)

    def restart(self):
        """As an operator or a crash-restart would: every open connection is dropped."""
        self.pg_ctl("restart", "-m", "fast")

    def connect(self, dbname="ledger", autocommit=True) -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, autocommit=autocommit)


@contextmanager
def postgresql_server(**settings):
    """initdb into a temporary directory, start on a free port with `settings` (e.g.
    `max_connections=20`), create and migrate the `ledger` database; stop and delete it all at
    the end. Skips the test where no PostgreSQL server binaries are installed."""
    bindir = _postgresql_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    home = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
    if owner := _server_owner():
        shutil.chown(home, owner["user"], owner["group"])
    # Durability is not under test here; without fsync a fresh cluster starts in a second.
    server = PostgreSQL(bindir, home, free_port(), {"fsync": "off", **settings})
    try:
        server.run("initdb", "-D", server.datadir, "-U", "postgres", "--auth=trust", "--no-sync")
        server.start()
        with server.connect("postgres") as conn:
            conn.execute("CREATE DATABASE ledger")
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=service_env(DATABASE_URL=server.database_url),
            capture_output=True,
            text=True,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        yield server
    finally:
        if (server.datadir / "postmaster.pid").exists():
            server.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(home, ignore_errors=True)


def customers_seed(web, *, database_url, count=1, amount="100.00") -> list[tuple[str, str, str]]:
    """(token, funded account id, empty account id) for `count` new customers, made through the
    service's own API and commands: for a database the test's Django connection does not reach."""
    password = "system-pass-phrase"
    created = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "create_system_user",
            "--no-input",
            "--email",
            "system@example.com",
            "--name",
            "System",
            "--password",
            password,
        ],
        cwd=ROOT,
        env=service_env(DATABASE_URL=database_url),
        capture_output=True,
        text=True,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    system = web.call("POST", "/api/auth/login", body={"email": "system@example.com", "password": password})["token"]
    customers = []
    for _ in range(count):
        email = f"customer-{uuid.uuid4().hex[:12]}@example.com"
        token = web.call("POST", "/api/auth/register", body={"name": "Customer", "email": email, "password": password})[
            "token"
        ]
        source, target = (web.call("POST", "/api/accounts", token=token)["account"]["id"] for _ in range(2))
        funding = {"toAccount": source, "amount": amount, "idempotencyKey": f"seed-{source}"}
        web.call("POST", "/api/transactions/system/initial-funds", token=system, body=funding)
        customers.append((token, source, target))
    return customers


class MailSink:
    """An aiosmtpd handler: keeps every message it accepts, refuses some recipients for good
    (550) and defers others (451), as a real mail server does."""

    def __init__(self, refuse=(), defer=()):
        self.refuse, self.defer = {a.lower() for a in refuse}, {a.lower() for a in defer}
        self.messages: list[email.message.Message] = []
        self.email_url = ""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return "550 5.1.1 No such user here"
        if address.lower() in self.defer:
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        return [message["Message-ID"] for message in self.messages]


@contextmanager
def smtp_server(*, refuse=(), defer=()):
    """A real SMTP server on a free port (in this process, on a thread of its own); its
    `email_url` is the EMAIL_URL that points the service at it."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
    sink = MailSink(refuse, defer)
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    sink.email_url = f"smtp://127.0.0.1:{port}"
    try:
        yield sink
    finally:
        controller.stop()


def emails_in(directory) -> list[str]:
    """Subjects of every message Django's file email backend wrote to `directory`."""
    subjects = []
    for path in glob.glob(os.path.join(directory, "*.log")):
        for line in Path(path).read_text().splitlines():
            if line.startswith("Subject: "):
                subjects.append(line[len("Subject: ") :])
    return subjects


class HttpClient:
    """Plain HTTP/1.1 to the service, one new connection per request: the fault tests' and the
    bench's client (the bank check keeps connections open: tests/bankcheck/client.py)."""

    def __init__(self, port, process=None):
        self.port = port
        self.process = process  # the server's, when a launcher here started it

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

    def call(self, method, path, *, token=None, body=None):
        """The answer's body, which must be a success."""
        status, _, answer = self.request(method, path, token=token, body=body)
        assert status in (200, 201), (method, path, status, answer)
        return answer

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
