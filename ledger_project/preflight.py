"""Check PostgreSQL and Redis before `make run` / `make test`, and create the database if missing.

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

BASE_DIR = Path(__file__).resolve().parent.parent
COMPOSE_HINT = "or run 'docker compose up -d postgres redis'"


def fail(message):
    print(f"preflight: {message}", file=sys.stderr)
    sys.exit(1)


def check_postgres(url, create_db):
    config = environ.Env.db_url_config(url)
    address = f"{config.get('HOST') or 'localhost'}:{config.get('PORT') or 5432}"
    conninfo = {
        "host": config.get("HOST") or "localhost",
        "port": config.get("PORT") or 5432,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "connect_timeout": 3,
    }
    try:
        with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]).fetchone()
            if not exists and create_db:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
                print(f"preflight: created database {config['NAME']} on {address}")
    except psycopg.OperationalError as exc:
        reason = (str(exc).strip().splitlines() or ["connection failed"])[0]
        fail(
            f"PostgreSQL is not reachable at {address} ({reason}). Start it "
            f"('sudo service postgresql start' or 'pg_ctlcluster <version> main start'), {COMPOSE_HINT}."
        )


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
    check_postgres(env("DATABASE_URL", default="postgres://localhost:5432/ledger"), "--create-db" in argv)
    check_redis(env("REDIS_URL", default="redis://localhost:6379/0"))


if __name__ == "__main__":
    main(sys.argv[1:])
