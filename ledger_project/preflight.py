"""Check PostgreSQL and Redis before `make run` / `make test`, create the database if missing, and
check that every process's connection pool fits under PostgreSQL's max_connections.

Run as `python -m ledger_project.preflight [--create-db]`. On failure it prints one line naming
the service, its address and how to start it, and exits 1: never a traceback.
"""

import sys
from pathlib import Path
from urllib.parse import urlsplit

import environ
import psycopg
import redis
from psycopg import sql

from ledger_project import defaults

BASE_DIR = Path(__file__).resolve().parent.parent
COMPOSE_HINT = "or run 'docker compose up -d postgres redis'"
# Connections kept free for everything but the service: migrations, manage.py commands, psql.
CONNECTION_MARGIN = 5


def fail(message):
    print(f"preflight: {message}", file=sys.stderr)
    sys.exit(1)


def check_postgres(url, create_db, needed):
    """Reachable, the database created if asked, and room for `needed` (see connections_needed)."""
    config = environ.Env.db_url_config(url)
    address = f"{config.get('HOST') or 'localhost'}:{config.get('PORT') or 5432}"
    conninfo = {
        "host": config.get("HOST") or "localhost",
        "port": config.get("PORT") or 5432,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "connect_timeout": 3,
    }
    # A multi-host DATABASE_URL (README, "High availability"): the database is created on the node
    # that accepts writes, as the service connects.
    if "target_session_attrs" in config.get("OPTIONS", {}):
        conninfo["target_session_attrs"] = config["OPTIONS"]["target_session_attrs"]
    try:
        with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]).fetchone()
            if not exists and create_db:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
                print(f"preflight: created database {config['NAME']} on {address}")
            available = conn.execute(CONNECTIONS_AVAILABLE_SQL).fetchone()[0]
    except psycopg.OperationalError as exc:
        reason = (str(exc).strip().splitlines() or ["connection failed"])[0]
        fail(
            f"PostgreSQL is not reachable at {address} ({reason}). Start it "
            f"('sudo service postgresql start' or 'pg_ctlcluster <version> main start'), {COMPOSE_HINT}."
        )
    total, parts = needed
    if total > available:
        fail(
            f"PostgreSQL at {address} has room for {available} connections (max_connections less the "
            f"reserved ones), but the service may open {total}: {parts}. Lower WEB_WORKERS, "
            "DB_POOL_MAX_SIZE or WORKER_CONCURRENCY, or raise max_connections."
        )


# reserved_connections exists from PostgreSQL 16 on; missing_ok makes it NULL before.
CONNECTIONS_AVAILABLE_SQL = """
    SELECT current_setting('max_connections')::int
         - current_setting('superuser_reserved_connections')::int
         - coalesce(current_setting('reserved_connections', true)::int, 0)
"""


def connections_needed(env) -> tuple[int, str]:
    """Every connection the Procfile's processes may hold at once: each gunicorn worker's pool (its
    threads share it), one per Celery prefork child (it runs one task at a time; the Procfile gives
    it a pool of one), one for beat, and a margin for everything else."""
    workers, threads = env.int("WEB_WORKERS", default=2), env.int("WEB_THREADS", default=4)
    per_web_worker = min(env.int("DB_POOL_MAX_SIZE", default=threads), threads)
    concurrency = env.int("WORKER_CONCURRENCY", default=2)
    total = workers * per_web_worker + concurrency + 1 + CONNECTION_MARGIN
    parts = f"web {workers} × {per_web_worker} + worker {concurrency} + beat 1 + margin {CONNECTION_MARGIN}"
    return total, parts


def check_redis(url):
    parts = urlsplit(url)
    address = f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as exc:
        fail(
            f"Redis is not reachable at {address} ({exc}). Start it "
            f"('sudo service redis-server start' or 'redis-server --daemonize yes'), {COMPOSE_HINT}."
        )


def main(argv):
    env = environ.Env()
    if (BASE_DIR / ".env").exists():
        environ.Env.read_env(BASE_DIR / ".env")
    database_url = env("DATABASE_URL", default=defaults.DATABASE_URL)
    check_postgres(database_url, "--create-db" in argv, connections_needed(env))
    check_redis(env("REDIS_URL", default=defaults.REDIS_URL))


if __name__ == "__main__":
    main(sys.argv[1:])
