"""A Django stack on a scratch database, for checks and benchmarks that drive it over HTTP.

    with Stack(database="ledger_bankcheck", workers=2, threads=4) as stack:
        stack.url   # http://127.0.0.1:<free port>
        stack.env   # the overrides gunicorn runs with; apply them before django.setup() to share its data

Entering drops and recreates the database, migrates it, starts gunicorn on a free 127.0.0.1 port
and waits for GET /api/health to answer 200; leaving stops gunicorn and empties the stack's two
Redis databases (cache and broker). The database is left for inspection; the next run recreates
it. The configured DATABASE_URL's database (and its test_ twin) is refused. No Celery worker runs,
so emails stay in the outbox; throttles are out of reach, so a bench measures the service, not
them. `extra_env` (DJANGO_SETTINGS_MODULE) and `wsgi_app` serve another project of this tree
the same way (bench/floor/).
"""

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
import psycopg
import redis
from psycopg import sql

from ledger_project import defaults

ROOT = Path(__file__).resolve().parent.parent
DATABASE_NAME = re.compile(r"\A[a-z_][a-z0-9_]{0,62}\Z")
UNTHROTTLED = "1000000000/s"
# The web's PostgreSQL sessions carry this application_name, so a nemesis (or an operator
# reading pg_stat_activity) can tell them from the driver's own.
WEB_APPLICATION_NAME = "ledger-stack-web"


class StackError(RuntimeError):
    """The stack could not be set up or did not come up healthy."""


def http_get(port: int, path: str, token: str | None = None, timeout: float = 30.0) -> tuple[int, bytes]:
    """The bench's one HTTP client for its own requests (the load itself is wrk's)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class Stack:
    def __init__(
        self,
        *,
        database: str,
        workers: int = 2,
        threads: int = 4,
        redis_url: str | None = None,
        cache_db: int = 6,
        broker_db: int = 7,
        extra_env: dict[str, str] | None = None,
        health_timeout: float = 30.0,
        wsgi_app: str = "ledger_project.wsgi",
        log=print,
    ):
        if not DATABASE_NAME.match(database):
            raise StackError(f"scratch database name {database!r}: use lower-case letters, digits and _")
        if (ROOT / ".env").exists():
            environ.Env.read_env(ROOT / ".env")  # as the settings and preflight do: the environment wins
        base_db_url = os.environ.get("DATABASE_URL", defaults.DATABASE_URL)
        configured = urlsplit(base_db_url).path.lstrip("/") or "ledger"
        if database in (configured, f"test_{configured}"):
            raise StackError(f"refusing to drop {database!r}: it is the configured (or test) database")
        base_redis_url = redis_url or os.environ.get("REDIS_URL", defaults.REDIS_URL)

        self.database = database
        self.workers, self.threads = workers, threads
        # Another module also serves a deliberately broken variant of the service (a check's check).
        self.wsgi_app = wsgi_app
        self.health_timeout = health_timeout
        self.log = log
        self.database_url = _with_path(base_db_url, f"/{database}")
        self.cache_url = _with_path(base_redis_url, f"/{cache_db}")
        self.broker_url = _with_path(base_redis_url, f"/{broker_db}")
        self.env = {
            "DJANGO_SETTINGS_MODULE": "ledger_project.settings.local", "DATABASE_URL": self.database_url,
            "CACHE_URL": self.cache_url, "REDIS_URL": self.broker_url, "LOG_LEVEL": "ERROR",
            "THROTTLE_TRANSFER": UNTHROTTLED, "THROTTLE_LOGIN": UNTHROTTLED, "THROTTLE_REGISTER": UNTHROTTLED,
            **(extra_env or {}),
        }
        self.port = None
        self.process = None
        # The web's stderr: gunicorn's own log and Django's errors (a 5xx's traceback); one per database.
        self.log_path = Path(tempfile.gettempdir()) / f"{database}.gunicorn.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def admin_conninfo(self, dbname: str = "postgres") -> dict:
        """psycopg.connect() keywords for the same server as the scratch database."""
        parts = urlsplit(self.database_url)
        return {"host": parts.hostname or "localhost", "port": parts.port or 5432, "user": parts.username or None,
                "password": parts.password or None, "dbname": dbname, "connect_timeout": 5}

    def __enter__(self):
        try:
            self.database_recreate()
            self.redis_flush()
            self.python("manage.py", "migrate", "--noinput")
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def database_recreate(self):
        try:
            with psycopg.connect(autocommit=True, **self.admin_conninfo()) as conn:
                name = sql.Identifier(self.database)
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
                conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
        except psycopg.Error as exc:
            raise StackError(f"PostgreSQL: could not recreate {self.database}: {exc}") from exc

    def database_drop(self):
        """For callers that want no trace (a test's own scratch database); the stack never calls it."""
        with psycopg.connect(autocommit=True, **self.admin_conninfo()) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.database)))

    def redis_flush(self):
        for url in (self.cache_url, self.broker_url):
            try:
                redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5).flushdb()
            except redis.RedisError as exc:
                raise StackError(f"Redis at {url}: {exc}") from exc

    def python(self, *args: str) -> str:
        """Run Python (manage.py, a module) in the stack's environment; its standard output."""
        result = subprocess.run(
            [sys.executable, *args], cwd=ROOT, env={**os.environ, **self.env}, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise StackError(f"{' '.join(args[:2])} failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
        return result.stdout

    def start(self):
        """gunicorn on a free port; another process may take the port between our probe and
        gunicorn's bind, so a start that dies at once is tried again on a new port."""
        for _ in range(3):
            self.port = _free_port()
            log = self.log_path.open("w")
            self.process = subprocess.Popen(
                [str(ROOT / ".venv" / "bin" / "gunicorn"), self.wsgi_app, "--bind", f"127.0.0.1:{self.port}",
                 "--workers", str(self.workers), "--threads", str(self.threads),
                 # Clients keep their connections for the whole run; never close them under it.
                 "--keep-alive", "75", "--graceful-timeout", "10",
                 # The default control socket is one path per machine user: several stacks (and
                 # `make run`) would take it from each other.
                 "--no-control-socket"],
                cwd=ROOT, env={**os.environ, **self.env, "PGAPPNAME": WEB_APPLICATION_NAME},
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
            log.close()  # gunicorn has its own copy
            if self._wait_healthy():
                return
            if self.process.poll() is None:
                break  # running but never healthy: not a port race
        self.stop()
        raise StackError(f"gunicorn did not become healthy on {self.url}; last lines of {self.log_path}:\n{self.log_tail()}")

    def _wait_healthy(self) -> bool:
        deadline = time.monotonic() + self.health_timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if http_get(self.port, "/api/health", timeout=2)[0] == 200:
                    return True
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        return False

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        try:
            self.redis_flush()
        except StackError as exc:
            self.log(f"stack: {exc}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
