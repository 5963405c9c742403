"""Jepsen-style bank check (client.py, nemesis.py, checks.py): drive the running service with concurrent clients, then audit the ledger.

    .venv/bin/python -m tests.bankcheck --seconds 60 --clients 32 [--nemesis]

1. Stack (tests/stack.py): a scratch database (`--database`, dropped and recreated), migrations,
   gunicorn on a free port with throttles raised, and a redis-server of its own on a free port
   (or the one on `--redis-port`, whose `--redis-dbs` it uses and never flushes). No Celery worker.
2. Setup, through the project's own services: a system user, one user per client with two INR
   accounts and a JWT each, every account funded with `--funding` through the HTTP initial-funds
   endpoint. `--limits` then sets limits on every other client's first account (through the
   service operators use); their declines (422 `limit_exceeded`, a FAILED transaction or hold)
   are definite outcomes like `insufficient_funds`, and ledger_verify checks the usage rows.
3. Load: each client thread, on its own persistent HTTP connection, sends random transfers from
   its accounts to any client account (fresh idempotency key each) and full-balance reads, for
   `--seconds`. Every transfer is kept with its key, body and outcome: ok (201), failed (4xx:
   definite, nothing or a FAILED transaction stored) or unknown (timeout, connection error, 5xx:
   it may or may not have happened). A share of the requests (`--batch-ratio`) are batches of 2-8
   such transfers, half of them atomic: each item is a transfer of its own, filed under
   "<batch key>#<index>", settled by its batch's answer (and resolved by resending the batch).
   `--nemesis` terminates a random web backend of the scratch
   database every few seconds to make unknowns.
4. Resolution: every unknown is sent again with its key and body until the answer is definite
   (201 applied now, 200 replay of a commit, 422 decline); idempotency makes that safe.
5. Checks, from the database in one REPEATABLE READ snapshot plus transactions.audit.ledger_verify:
   (a) money conserved, (b) no negative customer balance, (c) every acknowledged transfer stored
   once, (d) every key at most one transaction and each unknown resolved to zero or one,
   (e) stored balances equal their entries, (f) every balance equals what the clients' own history
   of definite outcomes says it must be.

Prints the counts and `bank check: PASS` or `bank check: FAIL (<reasons>)`; exits 0, 1 on an
anomaly, 2 when the check could not run.
"""

import argparse
import os
import secrets
import sys
import threading
import time
from decimal import Decimal

from accounts.money import PLAIN_DECIMAL, to_minor
from tests.stack import Stack, StackError

from .checks import ledger_check, money, report
from .client import BATCH_SIZES, CURRENCY, ClientLog, SetupError, client_run, finals_assign, limits_apply, world_create
from .nemesis import CHECKER_APPLICATION_NAME, Nemesis


def amount_minor(text: str) -> int:
    if not PLAIN_DECIMAL.match(text):
        raise argparse.ArgumentTypeError(f"{text!r}: an INR amount like 1000 or 1000.00")
    try:
        return to_minor(Decimal(text), CURRENCY)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from exc


def redis_pair(text: str) -> tuple[int, int]:
    parts = text.split(",")
    if len(parts) != 2 or not all(part.strip().isdigit() for part in parts) or parts[0].strip() == parts[1].strip():
        raise argparse.ArgumentTypeError(f"{text!r}: two different Redis database numbers, like 6,7")
    return int(parts[0]), int(parts[1])


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60, help="length of the load (default 60)")
    parser.add_argument(
        "--clients", type=int, default=32, help="concurrent clients, one user and connection each (default 32)"
    )
    parser.add_argument(
        "--read-ratio", type=float, default=0.2, help="share of requests that are balance reads (default 0.2)"
    )
    parser.add_argument(
        "--limits",
        action="store_true",
        help="set a per-transfer maximum (half of --max-amount) and daily amount (half of --funding) and count (20) limits on every other client's first account",
    )
    parser.add_argument(
        "--hold-ratio",
        type=float,
        default=0.2,
        help="share of requests that hold, capture or void (default 0.2); the rest are transfers",
    )
    parser.add_argument(
        "--batch-ratio",
        type=float,
        default=0.1,
        help="share of requests that are batches of 2-8 transfers, atomic or not (default 0.1)",
    )
    parser.add_argument(
        "--funding", type=amount_minor, default="1000.00", help="initial funds per account, INR (default 1000.00)"
    )
    parser.add_argument(
        "--max-amount", type=amount_minor, default="200.00", help="largest random transfer, INR (default 200.00)"
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="per-request timeout in seconds; longer is unknown (default 5)"
    )
    parser.add_argument(
        "--nemesis", action="store_true", help="terminate a random web backend of the scratch database now and then"
    )
    parser.add_argument("--nemesis-interval", type=float, default=3.0, help="seconds between kills (default 3)")
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_WORKERS", "2")),
        help="gunicorn workers (default $WEB_WORKERS or 2)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("WEB_THREADS", "4")),
        help="gunicorn threads per worker (default $WEB_THREADS or 4)",
    )
    parser.add_argument(
        "--database",
        default="ledger_bankcheck",
        help="scratch database, dropped and recreated (default ledger_bankcheck)",
    )
    parser.add_argument(
        "--redis-port",
        type=int,
        default=None,
        help="use the Redis already on 127.0.0.1:PORT, its --redis-dbs (never flushed; default: a redis-server of its own on a free port)",
    )
    parser.add_argument(
        "--redis-dbs",
        type=redis_pair,
        default="6,7",
        help="Redis databases for the cache and the broker (default 6,7)",
    )
    parser.add_argument(
        "--wsgi-app",
        default="ledger_project.wsgi",
        help="gunicorn app; another only to see the check fail on a broken variant",
    )
    parser.add_argument("--seed", default=None, help="random seed for the clients' choices (default: random, printed)")
    args = parser.parse_args(argv)
    if args.redis_port is not None and not 0 < args.redis_port < 65536:
        parser.error("--redis-port must be a TCP port, 1..65535")
    if args.clients < 1 or args.seconds <= 0 or not 0 <= args.read_ratio < 1 or args.funding < 1 or args.max_amount < 1:
        parser.error("need --clients >= 1, --seconds > 0, 0 <= --read-ratio < 1 and positive amounts")
    if not 0 <= args.hold_ratio < 1 - args.read_ratio:
        parser.error("need 0 <= --hold-ratio < 1 - --read-ratio")
    if not 0 <= args.batch_ratio < 1 - args.read_ratio - args.hold_ratio:
        parser.error("need 0 <= --batch-ratio < 1 - --read-ratio - --hold-ratio")
    args.seed = args.seed or secrets.token_hex(4)
    return args


def main(argv) -> int:
    args = parse_args(argv)
    cache_db, broker_db = args.redis_dbs
    # Tokens must outlive the run; the web only checks their expiry.
    token_minutes = max(15, int(args.seconds // 60) + 15)
    stack = Stack(
        database=args.database,
        workers=args.workers,
        threads=args.threads,
        # None: the stack's own redis-server.
        redis_url=args.redis_port and f"redis://127.0.0.1:{args.redis_port}/0",
        cache_db=cache_db,
        broker_db=broker_db,
        wsgi_app=args.wsgi_app,
        # Holds as short as 1 s, so that some expire within a short run (API.md's minimum is 60;
        # this setting exists for this check's stack only).
        extra_env={"ACCESS_TOKEN_LIFETIME_MINUTES": str(token_minutes), "HOLD_MIN_EXPIRES_IN_SECONDS": "1"},
    )
    try:
        with stack:
            return 0 if bank_check(stack, args) else 1
    except (StackError, SetupError) as exc:
        print(f"bank check: ERROR ({exc})")
        return 2


def bank_check(stack: Stack, args) -> bool:
    print(
        f"stack       {stack.url}: database {stack.database}, gunicorn {args.workers} workers x {args.threads} threads, "
        f"Redis cache {stack.cache_url}, broker {stack.broker_url}; log {stack.log_path}"
    )
    print("            no Celery worker is started: emails stay in the outbox, their tasks in the broker database")
    os.environ.update(stack.env)
    os.environ["PGAPPNAME"] = CHECKER_APPLICATION_NAME
    import django

    django.setup()
    started = time.monotonic()
    world = world_create(stack.port, clients=args.clients, funding=args.funding, timeout=args.timeout)
    print(
        f"setup       {args.clients} clients x 2 {CURRENCY} accounts, {money(args.funding)} each through initial-funds: "
        f"funded {money(world.total_funded)} ({time.monotonic() - started:.1f} s)"
    )
    if args.limits:
        limited = limits_apply(
            world, per_transfer_max=args.max_amount // 2, daily_amount=args.funding // 2, daily_count=20
        )
        print(
            f"limits      {limited} accounts: perTransferMax {money(args.max_amount // 2)}, "
            f"dailyDebitAmount {money(args.funding // 2)}, dailyDebitCount 20"
        )
    print(
        f"load        {args.seconds:g} s, {args.clients} clients, {1 - args.read_ratio - args.hold_ratio - args.batch_ratio:.0%} transfers "
        f"(up to {money(args.max_amount)}) / {args.batch_ratio:.0%} batches of {BATCH_SIZES[0]}-{BATCH_SIZES[1]} transfers, atomic or not / "
        f"{args.hold_ratio:.0%} holds, captures and voids / {args.read_ratio:.0%} reads, timeout {args.timeout:g} s, nemesis {'on' if args.nemesis else 'off'}, seed {args.seed}",
        flush=True,
    )

    logs = [ClientLog() for _ in world.customers]
    stop = threading.Event()
    nemesis = Nemesis(stack, args.nemesis_interval, f"{args.seed}-nemesis") if args.nemesis else None
    start = time.monotonic()
    deadline = start + args.seconds
    threads = [
        threading.Thread(target=client_run, args=(customer, world, args, deadline, stop, log), daemon=True)
        for customer, log in zip(world.customers, logs, strict=True)
    ]
    for thread in threads:
        thread.start()
    if nemesis:
        nemesis.start()
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(10.0, remaining))
            if time.monotonic() < deadline - 1:
                done = sum(len(log.transfers) + sum(log.reads.values()) for log in logs)
                print(f"  {time.monotonic() - start:5.0f} s  {done} requests", flush=True)
    except KeyboardInterrupt:
        print("  interrupted: stopping the clients, then resolving and checking what was done")
        stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    if nemesis:
        nemesis.stop_event.set()
        nemesis.join()

    unexpected = [problem for log in logs for problem in log.unexpected]
    unexpected += finals_assign(logs, world, timeout=30.0, budget=max(60.0, args.seconds))
    transfers = [t for log in logs for t in log.transfers]
    # No beat runs here: sweep the expired holds as it would, then check (what a capture or a
    # funds check met before this was already exact: an expired hold counts for nothing).
    from django.db import connections

    from transactions.holds import holds_expire

    print(f"expiry      {holds_expire(limit=1_000_000)} expired holds swept, as beat would")
    connections.close_all()
    checks = ledger_check(world, transfers)
    return report(args, logs, elapsed, nemesis, checks, unexpected)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
