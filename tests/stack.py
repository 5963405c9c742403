"""A Django stack on a scratch database, for the bank check and the bench, which drive it over HTTP.

    with Stack(database="ledger_bankcheck", workers=2, threads=4) as stack:
        stack.url   # http://127.0.0.1:<free port>
        stack.env   # the overrides gunicorn runs with; apply them before django.setup() to share its data

Entering starts a redis-server of the stack's own on a free port (unless `redis_url` names one to
use), drops and recreates the database, migrates it and starts gunicorn through the fault tests'
launcher (tests/faults/processes.py); leaving stops gunicorn and that redis-server. Nothing is
ever flushed: an own redis-server starts empty. The database is left for inspection; the next run
recreates it. The configured DATABASE_URL's database (and its test_ twin) is refused. No Celery worker runs,
so emails stay in the outbox; throttles are out of reach, so a bench measures the service, not
them. `extra_env` (DJANGO_SETTINGS_MODULE) and `wsgi_app` serve another project of this tree
the same way (bench/floor/).
"""

import contextlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
import psycopg
from psycopg import sql

from ledger_project import defaults
from tests.faults.processes import ROOT, free_port, gunicorn, redis_server

DATABASE_NAME = re.compile(r"\A[a-z_][a-z0-9_]{0,62}\Z")
UNTHROTTLED = "1000000000/s"
# The web's PostgreSQL sessions carry this application_name, so a nemesis (or an operator
# reading pg_stat_activity) can tell them from the driver's own.
WEB_APPLICATION_NAME = "ledger-stack-web"


class StackError(RuntimeError):
    """The stack could not be set up or did not come up healthy."""


def _with_path(url: str, path: str) -> str:
    """`url` on another path; its query stays (a multi-host URL's target_session_attrs, README
    "High availability")."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


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
        wsgi_app: str = "ledger_project.wsgi",
        log=print,
        server_url: str | None = None,
    ):
        if not DATABASE_NAME.match(database):
            raise StackError(f"scratch database name {database!r}: use lower-case letters, digits and _")
        if (ROOT / ".env").exists():
            environ.Env.read_env(ROOT / ".env")  # as the settings and preflight do: the environment wins
        # The server the scratch database goes on: DATABASE_URL's unless told (the bench's replicated pair).
        base_db_url = server_url or os.environ.get("DATABASE_URL", defaults.DATABASE_URL)
        configured = urlsplit(base_db_url).path.lstrip("/") or "ledger"
        if database in (configured, f"test_{configured}"):
            raise StackError(f"refusing to drop {database!r}: it is the configured (or test) database")
        # A Redis of the stack's own unless told which to use: started on entering, gone on leaving.
        self.own_redis_port = None if redis_url else free_port()
        base_redis_url = redis_url or f"redis://127.0.0.1:{self.own_redis_port}/0"

        self.database = database
        self.gunicorn_args = (
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            # Clients keep their connections for the whole run; never close them under it.
            "--keep-alive",
            "75",
            "--graceful-timeout",
            "10",
        )
        # Another module also serves a deliberately broken variant of the service (a check's check).
        self.wsgi_app = wsgi_app
        self.log = log
        self.database_url = _with_path(base_db_url, f"/{database}")
        self.cache_url = _with_path(base_redis_url, f"/{cache_db}")
        self.broker_url = _with_path(base_redis_url, f"/{broker_db}")
        self.env = {
            "DJANGO_SETTINGS_MODULE": "ledger_project.settings.local",
            "DATABASE_URL": self.database_url,
            "CACHE_URL": self.cache_url,
            "REDIS_URL": self.broker_url,
            "LOG_LEVEL": "ERROR",
            "THROTTLE_TRANSFER": UNTHROTTLED,
            "THROTTLE_BATCH": UNTHROTTLED,
            "THROTTLE_LOGIN": UNTHROTTLED,
            "THROTTLE_REGISTER": UNTHROTTLED,
            **(extra_env or {}),
        }
        self.web = None  # the launcher's HttpClient: .port, .process
        self._resources = contextlib.ExitStack()
        # The web's stderr: gunicorn's own log and Django's errors (a 5xx's traceback); one per database.
        self.log_path = Path(tempfile.gettempdir()) / f"{database}.gunicorn.log"

    @property
    def port(self) -> int:
        return self.web.port

    @property
    def process(self) -> subprocess.Popen:
        return self.web.process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def admin_conninfo(self, dbname: str = "postgres") -> dict:
        """psycopg.connect() keywords for the same server as the scratch database."""
        # As the settings parse it: a multi-host URL's hosts and ports stay libpq's lists.
        config = environ.Env.db_url_config(self.database_url)
        return {
            "host": config["HOST"] or "localhost",
            "port": config["PORT"] or 5432,
            "user": config["USER"] or None,
            "password": config["PASSWORD"] or None,
            "dbname": dbname,
            "connect_timeout": 5,
            **{key: value for key, value in config.get("OPTIONS", {}).items() if key == "target_session_attrs"},
        }

    def __enter__(self):
        try:
            if self.own_redis_port:
                self._redis_start()
            self.database_recreate()
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

    def _redis_start(self):
        try:
            self._resources.enter_context(redis_server(self.own_redis_port))
        except FileNotFoundError as exc:
            raise StackError("redis-server is not installed (Debian's redis-server package)") from exc
        except AssertionError as exc:  # it never answered
            raise StackError(f"redis-server on port {self.own_redis_port}: {exc}") from exc

    def python(self, *args: str) -> str:
        """Run Python (manage.py, a module) in the stack's environment; its standard output."""
        result = subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"{' '.join(args[:2])} failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
        return result.stdout

    def start(self):
        env = {**os.environ, **self.env, "PGAPPNAME": WEB_APPLICATION_NAME}
        with self.log_path.open("w") as log:  # gunicorn keeps its own copy
            launcher = gunicorn(*self.gunicorn_args, env=env, wsgi_app=self.wsgi_app, log=log)
            try:
                self.web = self._resources.enter_context(launcher)
            except (AssertionError, RuntimeError) as exc:
                raise StackError(
                    f"gunicorn did not become healthy ({exc}); last lines of {self.log_path}:\n{self.log_tail()}"
                ) from exc

    def stop(self):
        self._resources.close()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
