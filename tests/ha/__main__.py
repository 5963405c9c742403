"""The HA check: the bank check's load and audit across a failover, a lost standby and a switchover
of the pg_auto_failover formation of `make ha-up` (README, "High availability").

    make ha-up && make ha-check [ARGS="--clients 16 --phase-seconds 15"]

1. Stack (tests/stack.py) on a scratch database of the formation, reached through its multi-host
   DATABASE_URL (target_session_attrs=read-write), with TWO gunicorn processes on two ports; the
   clients are spread over both (the web tier scales out: they share nothing but the database).
2. Load: each client sends random transfers (a fresh idempotency key each) and balance reads, as
   the bank check's clients, recording when each request started and ended.
3. Faults, in turn, each after `--phase-seconds` of quiet load:
   a. primary lost: its pg_autoctl supervisor and postmaster SIGKILLed (formation.node_kill); the
      monitor promotes the standby. Measured: kill -> the monitor's new primary, and kill -> the
      first transfer answered 201 that was sent after the kill. The old node is started again and
      rejoins as the standby.
   b. standby lost: the same to the standby; the primary keeps serving once the monitor has taken
      it out of the replication quorum (wait_primary), which the check requires: a transfer sent
      after that is answered 201. Measured: the longest a transfer waited. The standby is started
      again.
   c. switchover: `pg_autoctl perform switchover`. Counted: requests that got no answer or a 5xx,
      which must be none: the service retries inside the request what the switchover broke.
4. Every unknown outcome is resolved by sending it again with its key (idempotency), then the bank
   check's audit on one snapshot: every acknowledged transfer stored exactly once, every
   verify_ledger invariant, money conserved, balances as the clients' history says.

Exits 0 on PASS, 1 on an anomaly, 2 when the check could not run.
"""

import argparse
import dataclasses
import os
import secrets
import sys
import threading
import time
from collections import Counter

from tests.bankcheck.checks import ledger_check, money, report
from tests.bankcheck.client import (
    TRANSFER_PATH,
    ClientLog,
    Connection,
    SetupError,
    balances_read,
    finals_assign,
    transfer_send,
    world_create,
)
from tests.faults.processes import gunicorn
from tests.stack import WEB_APPLICATION_NAME, Stack, StackError, _with_path

from .formation import Formation, FormationError


@dataclasses.dataclass
class Request:
    method: str
    path: str
    started: float
    ended: float
    status: int | None


class TimedConnection(Connection):
    """The bank check's connection, also recording every request's start, end and status."""

    def __init__(self, host, port, timeout, record: list):
        super().__init__(host, port, timeout)
        self.record = record

    def call(self, method, path, *, token, body=None):
        started = time.monotonic()
        reply = super().call(method, path, token=token, body=body)
        self.record.append(Request(method, path, started, time.monotonic(), reply.status))
        return reply


class TwoWebStack(Stack):
    """The stack on the formation's multi-host URL, with a second gunicorn beside the first."""

    def __init__(self, *, database_url: str, **kwargs):
        os.environ["DATABASE_URL"] = database_url  # the stack derives the scratch database's URL from it
        super().__init__(**kwargs)
        self.web2 = None

    def start(self):
        super().start()
        env = {**os.environ, **self.env, "PGAPPNAME": WEB_APPLICATION_NAME}
        log = self.log_path.with_suffix(".2.log").open("w")
        self.web2 = self._resources.enter_context(gunicorn(*self.gunicorn_args, env=env, log=log))
        log.close()

    @property
    def ports(self) -> list[int]:
        return [self.web.port, self.web2.port]


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--ha-dir", default=os.environ.get("HA_DIR", "/tmp/ledger-ha"), help="make ha-up's run directory"
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--phase-seconds", type=float, default=15, help="quiet load before each fault (default 15)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per web process (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    # Longer than the service's in-request retries (DB_RETRY_SECONDS, 15 s, plus one attempt): a
    # request caught by a fault is answered, 201 or 503, not abandoned by its client.
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, s (default 30)")
    parser.add_argument("--database", default="ledger_hacheck", help="scratch database (default ledger_hacheck)")
    parser.add_argument("--skip", default="", help="comma-separated phases to skip: failover,standby,switchover")
    parser.add_argument(
        "--database-url",
        default=None,
        help="the service's DATABASE_URL (default: ha.env's, both nodes); another only to see the check fail",
    )
    parser.add_argument("--seed", default=None)
    args = parser.parse_args(argv)
    args.seed = args.seed or secrets.token_hex(4)
    args.read_ratio, args.funding, args.max_amount = 0.2, 100_000, 20_000
    args.nemesis_interval = 0
    args.skip = {name.strip() for name in args.skip.split(",") if name.strip()}
    return args


def client_loop(me, world, args, stop: threading.Event, log: ClientLog, record: list):
    """The bank check's client (tests/bankcheck/client.py client_run) on a timed connection, until told to stop."""
    import random

    rng = random.Random(f"{args.seed}-{me.index}")
    conn = TimedConnection(world.host, world.port, args.timeout, record)
    seq = 0
    try:
        while not stop.is_set():
            if rng.random() < args.read_ratio:
                balances_read(conn, me, log)
            else:
                seq += 1
                transfer_send(conn, rng, me, world, seq, args.max_amount, log)
    except Exception as exc:  # a bug of the checker's own must fail the run
        log.unexpected.append(f"client {me.index} crashed: {exc!r}")
    finally:
        conn.close()


def window(records: list[list[Request]], start: float, end: float) -> dict:
    """What the clients saw of requests that overlapped [start, end]."""
    seen = [r for rec in records for r in list(rec) if r.ended >= start and r.started <= end]
    errors = Counter(str(r.status) if r.status else "no answer" for r in seen if r.status is None or r.status >= 500)
    writes = [r for r in seen if r.method == "POST"]
    return {
        "requests": len(seen),
        "errors": sum(errors.values()),
        "errors_by": dict(errors),
        "longest_write": max((r.ended - r.started for r in writes), default=0.0),
    }


def first_write_after(records: list[list[Request]], moment: float) -> float | None:
    """Seconds from `moment` to the first 201 of a transfer sent after it."""
    ends = [
        r.ended
        for rec in records
        for r in list(rec)
        if r.method == "POST" and r.path == TRANSFER_PATH and r.status == 201 and r.started >= moment
    ]
    return min(ends) - moment if ends else None


def first_write_wait(records, moment: float, timeout: float) -> float | None:
    """first_write_after, once there is one (None if none came within `timeout` s)."""
    while (first := first_write_after(records, moment)) is None and time.monotonic() - moment < timeout:
        time.sleep(0.2)
    return first


def main(argv) -> int:
    args = parse_args(argv)
    try:
        formation = Formation(args.ha_dir)
        formation.wait_synchronous(timeout=30)
        stack = TwoWebStack(
            database_url=args.database_url or formation.database_url,
            database=args.database,
            workers=args.workers,
            threads=args.threads,
            # WARNING: the service's retries of lost connections (ledger_project/db_retry.py) show in its log.
            extra_env={"ACCESS_TOKEN_LIFETIME_MINUTES": "120", "LOG_LEVEL": "WARNING"},
        )
        with stack:
            return 0 if ha_check(stack, formation, args) else 1
    except (StackError, SetupError, FormationError) as exc:
        print(f"ha check: ERROR ({exc})")
        return 2


def ha_check(stack: TwoWebStack, formation: Formation, args) -> bool:
    print(f"formation   {formation.states()}; DATABASE_URL {stack.database_url}")
    print(
        f"stack       web on ports {stack.ports} ({args.workers} workers x {args.threads} threads each), seed {args.seed}"
    )
    os.environ.update(stack.env)
    # The checker's own connection (world setup, the audit) follows the formation's primary even
    # when the service was given another URL (--database-url).
    os.environ["DATABASE_URL"] = _with_path(formation.database_url, f"/{stack.database}")
    os.environ["PGAPPNAME"] = "ha-check"
    import django

    django.setup()
    world = world_create(stack.ports[0], clients=args.clients, funding=args.funding, timeout=args.timeout)
    print(f"setup       {args.clients} clients x 2 accounts, funded {money(world.total_funded)}", flush=True)

    logs = [ClientLog() for _ in world.customers]
    records = [[] for _ in world.customers]
    stop = threading.Event()
    threads = [
        threading.Thread(
            # Client i on web process i % 2.
            target=client_loop,
            args=(me, dataclasses.replace(world, port=stack.ports[me.index % 2]), args, stop, log, record),
            daemon=True,
        )
        for me, log, record in zip(world.customers, logs, records, strict=True)
    ]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    results, problems = {}, []
    try:
        phases_run(formation, args, records, results)
    except FormationError as exc:
        problems.append(str(exc))
    finally:
        time.sleep(args.phase_seconds / 3)
        stop.set()
        for thread in threads:
            thread.join()
    elapsed = time.monotonic() - start

    unexpected = [problem for log in logs for problem in log.unexpected]
    unexpected += finals_assign(logs, world, timeout=30.0, budget=120.0)
    transfers = [t for log in logs for t in log.transfers]
    checks = ledger_check(world, transfers)
    lost = [t for t in transfers if t.outcome == "ok"]  # acknowledged; ledger_check proves each stored once
    print(f"acknowledged transfers {len(lost)} (201 on first answer); each is checked below to be stored exactly once")
    for name, numbers in results.items():
        print(f"phase       {name}: " + ", ".join(f"{key} {value}" for key, value in numbers.items()))
    for problem in problems:
        print(f"  [FAIL] formation: {problem}")
        unexpected.append(problem)
    return report(args, logs, elapsed, None, checks, unexpected) and not problems


def phases_run(formation: Formation, args, records, results: dict):
    quiet = args.phase_seconds
    if "failover" not in args.skip:
        time.sleep(quiet)
        old = formation.primary()
        new = formation.other(old)
        killed = time.monotonic()
        formation.node_kill(old)
        print(f"  kill -9   the primary {old} (supervisor and postmaster)", flush=True)
        promoted = formation.wait_states({new: "wait_primary"}, timeout=120)
        first = first_write_wait(records, killed, timeout=90)
        seen = window(records, killed, time.monotonic())
        results["failover"] = {
            "new primary": new,
            "monitor promoted it after": f"{promoted:.1f} s",
            "first 201 after the kill": f"{first:.1f} s" if first is not None else "none yet",
            "requests in the window": seen["requests"],
            "5xx/no answer": f"{seen['errors']} {seen['errors_by']}",
        }
        print(f"  failover  {results['failover']}", flush=True)
        if first is None:
            raise FormationError("no transfer was answered 201 within 90 s of the primary's loss")
        formation.node_start(old)
        rejoined = formation.wait_states({new: "primary", old: "secondary"}, timeout=240)
        results["failover"]["old primary back as standby after"] = f"{rejoined:.1f} s"
        print(f"  rejoined  {old} is the standby again ({rejoined:.1f} s)", flush=True)
    if "standby" not in args.skip:
        time.sleep(quiet)
        primary = formation.primary()
        standby = formation.other(primary)
        killed = time.monotonic()
        formation.node_kill(standby)
        print(f"  kill -9   the standby {standby}", flush=True)
        degraded = formation.wait_states({primary: "wait_primary"}, timeout=120)
        alone = time.monotonic()
        # The behaviour chosen (README, "The standby lost"): the primary keeps serving alone.
        first = first_write_wait(records, alone, timeout=30)
        time.sleep(3)
        seen = window(records, killed, time.monotonic())
        results["standby lost"] = {
            "primary alone (wait_primary) after": f"{degraded:.1f} s",
            "first 201 sent after that": f"{first:.1f} s later" if first is not None else "none",
            "longest transfer in the window": f"{seen['longest_write']:.1f} s",
            "requests in the window": seen["requests"],
            "5xx/no answer": f"{seen['errors']} {seen['errors_by']}",
        }
        print(f"  standby   {results['standby lost']}", flush=True)
        if first is None:
            raise FormationError("the primary, alone, answered no transfer 201 within 30 s")
        formation.node_start(standby)
        back = formation.wait_states({primary: "primary", standby: "secondary"}, timeout=240)
        results["standby lost"]["standby back in sync after"] = f"{back:.1f} s"
        print(f"  rejoined  {standby} is the standby again ({back:.1f} s)", flush=True)
    if "switchover" not in args.skip:
        time.sleep(quiet)
        before = formation.primary()
        began = time.monotonic()
        formation.switchover()
        formation.wait_synchronous(timeout=120)
        took = time.monotonic() - began
        time.sleep(2)
        seen = window(records, began, time.monotonic())
        first = first_write_after(records, began)
        results["switchover"] = {
            "from": before,
            "to": formation.primary(),
            "took": f"{took:.1f} s",
            "first 201 after it began": f"{first:.1f} s" if first is not None else "none",
            "longest transfer in the window": f"{seen['longest_write']:.1f} s",
            "requests in the window": seen["requests"],
            "5xx/no answer": f"{seen['errors']} {seen['errors_by']}",
        }
        print(f"  switch    {results['switchover']}", flush=True)
        # A planned failover costs clients nothing: the service retries, inside the request, what
        # the old primary's shutdown broke (ledger_project/db_retry.py).
        if seen["errors"]:
            raise FormationError(f"clients saw {seen['errors']} errors during the switchover: {seen['errors_by']}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
