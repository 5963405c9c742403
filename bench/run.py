"""make bench: the service beside its references (README, "Benchmarks"), every figure from one run.

    .venv/bin/python bench/run.py [--seconds 30] [--clients 1,4,16,64] [--smoke] [--profile]

Two stacks under the same gunicorn settings (tests/stack.py): the service on `--database` and the
floor (bench/floor/) on `<database>_floor`, each seeded with the same pool; one transfer's round
trips must match bench/sql/transfer.sql's before any load. The replica scenarios add a third stack
on a primary with a streaming standby of their own (bench/replica.py). Then every scenario at every client
count, writes then reads, interleaved by client count; after each write run the ledger must check
out and no answer may be a 5xx. Report: bench/results/latest.md and latest.png (bench/report.py).
`--smoke` (CI): a small seed, 3 s per scenario at 4 clients, every answer a 2xx; `--profile`: then
transfer under py-spy. Exit 0; 1 when a check failed; 2 when the benchmark could not run.
"""

import argparse
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from bench import procstat  # noqa: E402
from bench.load import LoadError, Measurement, pgbench_run, wrk_run  # noqa: E402
from bench.replica import ReplicaError, replicated_pair  # noqa: E402
from bench.seed import SeedError, World, limits_set, pick_table_create, world_seed  # noqa: E402
from tests.faults.processes import HttpClient  # noqa: E402
from tests.stack import Stack, StackError  # noqa: E402

SQL = ROOT / "bench" / "sql"
STATEMENT_PAGE = 200  # entries per statement page (the API's maximum)
# The transfer on a primary with a streaming standby of the bench's own (bench/replica.py):
# commits waiting for the standby's flush, or not.
REPLICA = ("transfer_sync_replica", "transfer_async_replica")
WRITES = (
    "transfer",
    "transfer_limited",
    *REPLICA,
    "hold_capture",
    "floor_transfer",
    "sql_ceiling",
    "sql_minimal",
    "funding_hot",
    "batch",
    "sql_batch",
)
READS = ("balance", "floor_read", "statement")
SCENARIOS = WRITES + READS


class CheckFailed(RuntimeError):
    """A correctness check failed before any load was run."""


def log(message: str = ""):
    print(message, flush=True)


def nonce() -> str:
    """Fresh per run, so every idempotency key the wrk scripts make is new."""
    return uuid.uuid4().hex[:12]


@dataclass
class Subject:
    """What is measured at every client count: a scenario, or one of a read scenario's two."""

    scenario: str
    generate: Callable[[int, float], Measurement]  # (clients, seconds)
    database: str  # whose PostgreSQL backends count as "pg"
    stack: Stack | None = None  # whose gunicorn counts as "web"; None for pgbench
    check: Callable[[], str] | None = None  # after a run: "ok" or what is wrong
    role: str = ""  # small/big, first/deep: what the targets compare
    target: str = ""
    per_request: int = 1  # transfers per request (or pgbench transaction): a batch's size


@dataclass
class Run:
    subject: Subject
    clients: int
    measurement: Measurement
    usage: procstat.Usage
    verify: str | None

    @property
    def label(self) -> str:
        target = f" ({self.subject.target})" if self.subject.target else ""
        return f"{self.subject.scenario}{target} at {self.clients} clients"

    @property
    def transfers_rate(self) -> float:
        """Transfers per second: requests per second times the transfers each one carries."""
        return self.measurement.rate * self.subject.per_request


@dataclass
class Bench:
    args: argparse.Namespace
    service: Stack
    floor: Stack
    workdir: Path
    subjects: list[Subject] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    env: dict = field(default_factory=dict)
    resources: ExitStack = field(default_factory=ExitStack)  # the replicated pair and its stack, when asked for

    def wrk(self, stack: Stack, script: str, *args) -> Callable[[int, float], Measurement]:
        return lambda clients, seconds: wrk_run(
            url=stack.url,
            script=script,
            args=[arg() if callable(arg) else str(arg) for arg in args],
            clients=clients,
            seconds=seconds,
            threads=self.args.generator_threads,
        )

    def pgbench(self, stack: Stack, script: str, **defines) -> Callable[[int, float], Measurement]:
        return lambda clients, seconds: pgbench_run(
            conninfo=stack.admin_conninfo(stack.database),
            script=SQL / script,
            defines=defines,
            clients=clients,
            seconds=seconds,
            workdir=self.workdir,
            threads=self.args.generator_threads,
        )

    def measure(self, subject: Subject, clients: int, seconds: float, *, warmup=False):
        postmaster = postmaster_started(self.service)
        master = subject.stack.process.pid if subject.stack else None

        def web() -> list[int]:  # gunicorn's master and its workers
            return [master, *procstat.children(master)] if master else []

        sampler = procstat.Sampler(
            {"web": web, "postgres": lambda: procstat.postgres_serving(subject.database)}, rss_pids=lambda: web()[1:]
        )
        sampler.start()
        try:
            m = subject.generate(clients, seconds)
        finally:
            usage = sampler.stop()
        run = Run(subject, clients, m, usage, subject.check() if subject.check else None)
        problems = [
            problem
            for problem, failed in (
                (f"{m.server_errors} responses were 5xx", m.server_errors),
                (f"check failed: {run.verify}", run.verify not in (None, "ok")),
                (f"{m.errors} errors {m.errors_by_status} (smoke mode allows none)", self.args.smoke and m.errors),
                ("no request completed", m.requests == 0),
            )
            if failed
        ]
        if problems and postmaster_started(self.service) != postmaster:
            problems.append("PostgreSQL was restarted during this run, by something outside the bench")
        log(
            f"  {run.label:<46} {m.rate:9.1f} /s  p50 {m.latency_ms['p50']:7.1f} ms  p99 {m.latency_ms['p99']:7.1f} ms  errors {m.errors}"
            + (f"  = {run.transfers_rate:,.0f} transfers/s" if subject.per_request > 1 else "")
            + (f"  check {run.verify}" if run.verify else "")
            + ("  [warm-up]" if warmup else "")
        )
        for problem in problems:
            self.failures.append(f"{run.label}: {problem}")
            log(f"  FAIL {problem}" + (f"; first error bodies: {m.error_samples}" if m.error_samples else ""))
        if not warmup:
            self.runs.append(run)

    def scenarios(self):
        """The writes, then the reads; at every client count each subject of the group in turn.
        Runs that a target compares are then a minute apart rather than a quarter of an hour,
        so a neighbour's load on a shared machine, or the tables' growth, weighs on both alike."""
        for group in (WRITES, READS):
            subjects = [subject for subject in self.subjects if subject.scenario in group]
            for subject in subjects if self.args.warmup > 0 else []:
                self.measure(subject, min(self.args.clients), self.args.warmup, warmup=True)
            for clients in self.args.clients:
                for subject in subjects:
                    try:
                        self.measure(subject, clients, self.args.seconds)
                    except LoadError as exc:  # pgbench refused connections, say: record it, measure the rest
                        self.failures.append(f"{subject.scenario} at {clients} clients: {str(exc).splitlines()[0]}")
                        log(f"  FAIL {subject.scenario} at {clients} clients: {exc}")

    def setup(self):
        os.environ.update(self.service.env, PGAPPNAME="ledger-bench")
        import django

        django.setup()
        self.env = environment(self.service)
        world = self.service_seed()
        self.round_trips_check(world)
        subjects = self.subjects_for(world)
        if set(REPLICA) & set(self.args.scenarios):
            subjects.update(self.replica_subjects())
        self.subjects = [subject for name in self.args.scenarios for subject in subjects[name]]

    def replica_subjects(self) -> dict[str, list[Subject]]:
        """transfer on a primary with a streaming standby of its own (bench/replica.py), the same
        gunicorn settings and wrk script as transfer, a smaller pool (seeded by the service's
        services in a process of that stack's own)."""
        args = self.args
        pair = self.resources.enter_context(replicated_pair(log))
        stack = self.resources.enter_context(
            Stack(
                database=f"{args.database}_replica",
                server_url=pair.database_url,
                extra_env={"ACCESS_TOKEN_LIFETIME_MINUTES": "1440"},
                workers=args.workers,
                threads=args.threads,
                log=log,
            )
        )
        users = min(args.users, 200)
        log(f"replica     stack {stack.url} on {stack.database}; seed {users} users x {args.per_user} accounts")
        users_file = self.workdir / "replica-users.txt"
        users_file.write_text(stack.python("-m", "bench.replica", "seed", str(users), str(args.per_user)))
        self.env["replica"] = (
            f"a primary and a streaming standby on 127.0.0.1 (initdb, pg_basebackup), {users:,} users x "
            f"{args.per_user} accounts; synchronous_commit on, synchronous_standby_names '*' (sync) or '' (async)"
        )
        transfer = self.wrk(stack, "transfer.lua", users_file, nonce)

        def check() -> str:
            try:
                stack.python("manage.py", "verify_ledger")
            except StackError as exc:
                return str(exc)[:300]
            return "ok"

        def on(synchronous: bool) -> Callable[[int, float], Measurement]:
            def generate(clients: int, seconds: float) -> Measurement:
                pair.synchronous(synchronous)
                return transfer(clients, seconds)

            return generate

        return {
            name: [Subject(name, on(name == "transfer_sync_replica"), stack.database, stack, check)] for name in REPLICA
        }

    def service_seed(self) -> World:
        args, conninfo = self.args, self.service.admin_conninfo(self.service.database)
        log(f"seed        {args.users:,} users x {args.per_user} accounts, big account {args.big_entries:,} entries")
        world = world_seed(
            conninfo=conninfo,
            users=args.users,
            per_user=args.per_user,
            small_entries=10,
            big_entries=args.big_entries,
            log=log,
        )
        pick_table_create(conninfo, world)
        # Half the pool has every limit set (transfer_limited), the other half none (transfer and
        # the other writes): the two halves are alike in all else, so their ratio is the limits' cost.
        half = len(world.users) // 2
        (self.workdir / "users.txt").write_text(world.users_file_text(world.users[:half]))
        (self.workdir / "limited-users.txt").write_text(world.users_file_text(world.users[half:]))
        limits_set(conninfo, [account for _, accounts in world.users[half:] for account in accounts])
        self.env["seed"] = {
            "accounts": world.accounts,
            "small": world.small_entries,
            "big": world.big_entries,
            "timings": world.timings,
        }
        return world

    def round_trips_check(self, world: World):
        """sql_ceiling means something only while its script sends what the service sends."""
        trips, scripted = transfer_round_trips(world), script_statements(SQL / "transfer.sql")
        self.env.update(round_trips=trips, script_round_trips=scripted)
        log(f"round trips one transfer: {len(trips)}; bench/sql/transfer.sql: {scripted}")
        if len(trips) != scripted:
            raise CheckFailed(
                f"one transfer makes {len(trips)} round trips, bench/sql/transfer.sql {scripted}: "
                "make the script follow the hot path\n  " + "\n  ".join(trip[:150] for trip in trips)
            )
        if "sql_batch" in self.args.scenarios:  # likewise the batch's ceiling
            trips = transfer_round_trips(world, batch_size=self.args.batch_size)
            scripted = script_statements(SQL / "sql_batch.sql")
            log(f"round trips one batch: {len(trips)}; bench/sql/sql_batch.sql: {scripted}")
            if len(trips) != scripted:
                raise CheckFailed(
                    f"one batch makes {len(trips)} round trips, bench/sql/sql_batch.sql {scripted}\n  "
                    + "\n  ".join(trip[:150] for trip in trips)
                )

    def subjects_for(self, world: World) -> dict[str, list[Subject]]:
        args, service, floor, users = self.args, self.service, self.floor, self.workdir / "users.txt"
        depth = self.env["statement_depth"] = round(args.big_entries * 0.9)
        first_page, deep_page = statement_pages(service, world, depth)
        year_page = year_statement(service, world)
        floor_users, floor_check, minimal_check = self.references_seed(world.accounts)
        floor_token, floor_account = floor_users.read_text().split()[:2]

        from transactions.services import Kind, idempotency_fingerprint

        fingerprint = idempotency_fingerprint(Kind.TRANSFER, "%s", "%s", "%s")  # SQL's format() fills it in
        ledger, balance = service.database, "/api/accounts/balance/{}"
        return {
            "transfer": [
                Subject("transfer", self.wrk(service, "transfer.lua", users, nonce), ledger, service, ledger_check)
            ],
            "transfer_limited": [
                Subject(
                    "transfer_limited",
                    self.wrk(service, "transfer.lua", self.workdir / "limited-users.txt", nonce),
                    ledger,
                    service,
                    ledger_check,
                )
            ],
            # A hold, then its capture by the same client's next request: two writes per pair.
            "hold_capture": [
                Subject(
                    "hold_capture", self.wrk(service, "hold_capture.lua", users, nonce), ledger, service, ledger_check
                )
            ],
            "floor_transfer": [
                Subject(
                    "floor_transfer",
                    self.wrk(floor, "transfer.lua", floor_users, nonce),
                    floor.database,
                    floor,
                    floor_check,
                )
            ],
            "sql_ceiling": [
                Subject(
                    "sql_ceiling",
                    self.pgbench(
                        service,
                        "transfer.sql",
                        # From the half of the pool without limits, as transfer: its usage rows
                        # are the service's to keep (transfer_limited).
                        users=len(world.users) // 2,
                        per_user=args.per_user,
                        accounts=world.accounts,
                        fingerprint=fingerprint,
                    ),
                    ledger,
                    check=ledger_check,
                )
            ],
            "sql_minimal": [
                Subject(
                    "sql_minimal",
                    self.pgbench(floor, "minimal.sql", accounts=world.accounts),
                    floor.database,
                    check=minimal_check,
                )
            ],
            "funding_hot": [
                Subject(
                    "funding_hot",
                    self.wrk(service, "funding.lua", users, nonce, world.system_token),
                    ledger,
                    service,
                    ledger_check,
                )
            ],
            # 100 transfers per request (--batch-size), atomic, never declined; its ceiling is
            # the same batch as raw set-based SQL (bench/sql/sql_batch.sql).
            "batch": [
                Subject(
                    "batch",
                    self.wrk(service, "batch.lua", users, nonce, args.batch_size),
                    ledger,
                    service,
                    ledger_check,
                    per_request=args.batch_size,
                )
            ],
            "sql_batch": [
                Subject(
                    "sql_batch",
                    self.pgbench(
                        service,
                        "sql_batch.sql",
                        users=args.users,
                        per_user=args.per_user,
                        accounts=world.accounts,
                        size=args.batch_size,
                    ),
                    ledger,
                    check=ledger_check,
                    per_request=args.batch_size,
                )
            ],
            "balance": [
                Subject(
                    "balance",
                    self.wrk(service, "get.lua", balance.format(account), world.reader_token),
                    ledger,
                    service,
                    role=role,
                    target=f"{entries:,} entries",
                )
                for role, account, entries in (
                    ("small", world.small_account_id, world.small_entries),
                    ("big", world.big_account_id, world.big_entries),
                )
            ],
            "floor_read": [
                Subject(
                    "floor_read",
                    self.wrk(floor, "get.lua", balance.format(floor_account), floor_token),
                    floor.database,
                    floor,
                )
            ],
            "statement": [
                Subject(
                    "statement",
                    self.wrk(service, "get.lua", path, world.reader_token),
                    ledger,
                    service,
                    role=role,
                    target=target,
                )
                for role, path, target in (
                    ("first", first_page, "first page"),
                    ("deep", deep_page, f"page {depth:,} deep"),
                    ("year", year_page, "one-year statement, first page"),
                )
            ],
        }

    def references_seed(self, accounts: int) -> tuple[Path, Callable, Callable]:
        """The floor's pool (as many accounts as the service's) and sql_minimal's tables; each with
        its check: the balances must still sum to what was seeded."""
        floor_users = self.workdir / "floor-users.txt"
        floor_users.write_text(
            self.floor.python("-m", "bench.floor.seed", str(self.args.users), str(self.args.per_user))
        )
        conninfo = self.floor.admin_conninfo(self.floor.database)
        with psycopg.connect(autocommit=True, **conninfo) as conn:
            conn.execute((SQL / "minimal_tables.sql").read_text())
            conn.execute("INSERT INTO minimal_account SELECT i, 10000000 FROM generate_series(1, %s) AS i", [accounts])
            conn.execute("VACUUM ANALYZE")
        return (
            floor_users,
            balances_conserved(conninfo, "floor_account"),
            balances_conserved(conninfo, "minimal_account"),
        )


# --- checks ------------------------------------------------------------------------------------------


def postmaster_started(stack: Stack):
    try:
        with psycopg.connect(**stack.admin_conninfo()) as conn:
            return conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
    except psycopg.Error:
        return None


def ledger_check() -> str:
    from django.db import connections

    from transactions.audit import ledger_verify

    try:
        report = ledger_verify()
    finally:
        connections.close_all()  # never hold a connection while the load runs
    return "ok" if report.ok else report.summary()


def balances_conserved(conninfo: dict, table: str) -> Callable[[], str]:
    def total() -> int:
        with psycopg.connect(**conninfo) as conn:
            return conn.execute(sql.SQL("SELECT sum(balance) FROM {}").format(sql.Identifier(table))).fetchone()[0]

    seeded = total()
    return lambda: "ok" if (now := total()) == seeded else f"{table} balances sum to {now}, seeded {seeded}"


def statement_cursor(position: int) -> str:
    """The cursor the statement puts in `next` after the entry at `position` (positions are
    unique, so no offset), signed as the API signs it (same settings, same key)."""
    from rest_framework.pagination import Cursor

    from transactions.apis import EntryPagination

    return EntryPagination().cursor_sign(Cursor(offset=0, reverse=False, position=str(position)))


def statement_pages(stack: Stack, world: World, depth: int) -> tuple[str, str]:
    """The first page of the big account's statement and the page `depth` entries deep. A client
    reaches it by following `next` depth / 200 times; we build its cursor as the API does and
    prove it: the page must list exactly the entries SQL finds at OFFSET depth (newest first)."""
    base = f"/api/accounts/{world.big_account_id}/entries?limit={STATEMENT_PAGE}"
    with psycopg.connect(**stack.admin_conninfo(stack.database)) as conn:
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM transactions_ledgerentry WHERE account_id = %s ORDER BY id DESC OFFSET %s LIMIT %s",
                [world.big_account_id, depth - 1, STATEMENT_PAGE + 1],
            )
        ]
    deep = f"{base}&{urlencode({'cursor': statement_cursor(ids[0])})}"
    status, _, answer = HttpClient(stack.port).request("GET", deep, token=world.reader_token, timeout=30)
    got = [entry["id"] for entry in answer["entries"]] if status == 200 else f"{status} {answer!r:.300}"
    if got != ids[1:]:
        raise SeedError(f"the page {depth} deep answers {str(got)[:300]}..., SQL says {ids[1:4]}...")
    return base, deep


def year_statement(stack: Stack, world: World) -> str:
    """`GET /api/accounts/{big}/statement` for the year up to tomorrow (every seeded entry is in
    it), first page. Checked once before it is measured: it counts every entry of the big account
    and adds up (opening + credits - debits = closing)."""
    end = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    period = {"from": (end - timedelta(days=365)).isoformat(), "to": end.isoformat(), "limit": STATEMENT_PAGE}
    path = f"/api/accounts/{world.big_account_id}/statement?{urlencode(period)}"
    status, _, answer = HttpClient(stack.port).request("GET", path, token=world.reader_token, timeout=60)
    if status != 200:
        raise SeedError(f"the one-year statement answers {status} {answer!r:.300}")
    opening, closing, credits, debits = (
        Decimal(answer[name]) for name in ("openingBalance", "closingBalance", "totalCredits", "totalDebits")
    )
    if (
        answer["count"] != world.big_entries
        or opening + credits - debits != closing
        or len(answer["entries"]) != STATEMENT_PAGE
    ):
        raise SeedError(f"the one-year statement does not add up over {world.big_entries:,} entries: {answer!r:.300}")
    return path


TRACE_LINE = re.compile(r"\A(?:\S+ \S+\t)?([FB])\t\d+\t(\w+)\t? ?(.*)\Z")  # [timestamp] direction length type text


def transfer_round_trips(world: World, *, batch_size: int = 0) -> list[str]:
    """What one POST /api/transactions (or, with `batch_size`, one POST /api/transactions/batch
    of that many transfers) sends PostgreSQL, read off the wire (libpq's trace): a request
    in-process on a reused connection, armed as before every request gunicorn serves
    (close_old_connections: the health check). One line per round trip (a Query, or a Sync)."""
    from django.db import close_old_connections, connection, connections
    from django.test import Client

    token, accounts = world.users[0]
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    body = {"fromAccount": accounts[0], "toAccount": world.users[-1][1][-1], "amount": "0.01"}
    path = "/api/transactions/batch" if batch_size else "/api/transactions"
    if batch_size:
        body = {"transfers": [body] * batch_size}

    def post():
        return client.post(path, {**body, "idempotencyKey": nonce()}, content_type="application/json")

    connections.close_all()
    post()  # opens a connection, as a worker's first request does
    close_old_connections()  # back to the pool, as at the end of every request gunicorn serves
    traced = []
    with tempfile.TemporaryFile("w+") as trace:
        # The pool lends a connection at the request's first query, after its health check: trace
        # the lent connection from that check on (psycopg_pool keeps the callable in `_check`).
        pool = connection.pool
        check = pool._check

        def traced_check(conn):
            conn.pgconn.trace(os.dup(trace.fileno()))  # libpq's own FILE; untrace() flushes it
            traced.append(conn.pgconn)
            if check:
                check(conn)

        pool._check = traced_check
        try:
            response = post()
        finally:
            pool._check = check
            for pgconn in traced:
                pgconn.untrace()
        trace.seek(0)
        messages = []  # [type, text] of what the client sent; a line that is no message continues the text
        for line in trace.read().splitlines():
            if match := TRACE_LINE.match(line):
                messages.append([match[2], match[3]] if match[1] == "F" else ["", ""])
            elif messages:
                messages[-1][1] += " " + line
    connections.close_all()
    if response.status_code != 201:
        raise SeedError(f"the traced transfer answered {response.status_code}: {response.content[:300]!r}")
    trips, parsed, executed = [], "(prepared statement)", False
    for kind, text in messages:
        parsed = text if kind == "Parse" else parsed
        executed = executed or kind == "Execute"
        # A Sync after a Parse with no Execute only prepared a statement: psycopg does that once per
        # connection and statement (DB_PREPARE_THRESHOLD), not per request, so it is not counted.
        if kind == "Query" or (kind == "Sync" and executed):
            text = " ".join((text if kind == "Query" else parsed).split())  # the trace quotes it: "..."
            trips.append(text[1:-1].strip() if text[:1] == text[-1:] == '"' else text)
        if kind in ("Query", "Sync"):
            parsed, executed = "(prepared statement)", False
    return trips


def script_statements(path: Path) -> int:
    """SQL commands in a pgbench script: each ends with `;` or `\\gset` outside comments."""
    lines = [line.strip() for line in path.read_text().splitlines() if not line.strip().startswith(("--", "\\set"))]
    return sum(line.endswith(";") or line == "\\gset" for line in lines)


# --- environment and main ----------------------------------------------------------------------------


def command_output(command: list[str]) -> str:
    """The first line a command prints, or "" if it cannot run."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False, cwd=ROOT)
    except OSError:
        return ""
    return next(iter((result.stdout + result.stderr).strip().splitlines()), "")


def pyspy() -> str | None:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


def dependencies_missing(args) -> list[str]:
    """Checked before anything is seeded, rather than found missing after a long run."""
    # Debian's /usr/bin/pgbench is a wrapper that runs, but fails without the server's package.
    missing = [tool for tool in ("wrk", "pgbench") if not command_output([tool, "--version"]).startswith(tool)]
    missing += [] if importlib.util.find_spec("matplotlib") else ["matplotlib"]
    return missing + (["py-spy"] if args.profile and not pyspy() else [])


def environment(stack: Stack) -> dict:
    with psycopg.connect(**stack.admin_conninfo(stack.database)) as conn:
        postgresql = conn.execute(
            "SELECT current_setting('server_version') || ': ' || string_agg(name || ' ' || setting || coalesce(unit, ''), ', ' ORDER BY name)"
            " FROM pg_settings WHERE name = ANY(%s)",
            [["shared_buffers", "work_mem", "max_connections", "synchronous_commit", "fsync", "jit"]],
        ).fetchone()[0]
    import redis

    cpu = next(
        (
            line.split(":")[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    busy0, total0 = procstat.machine_jiffies()
    time.sleep(3)
    busy1, total1 = procstat.machine_jiffies()
    busy = (busy1 - busy0) / max(1, total1 - total0) * (os.cpu_count() or 1)
    if busy > 0.3:
        log(f"warning     the machine was already busy before the run ({busy:.2f} cores): see the 'other' CPU column")
    dirty = command_output(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "machine": f"{os.cpu_count()} cores ({cpu}), {int(Path('/proc/meminfo').read_text().split()[1]) / 2**20:.1f} GiB, "
        f"Linux {platform.release()}; {busy:.2f} cores busy just before the run",
        "commit": command_output(["git", "log", "-1", "--format=%h (%s)"])
        + (" plus uncommitted changes" if dirty else ""),
        "postgresql": postgresql,
        "redis": redis.Redis.from_url(stack.cache_url).info("server").get("redis_version", "?"),
        "gunicorn": f"{command_output([str(ROOT / '.venv' / 'bin' / 'gunicorn'), '--version'])}, Python {platform.python_version()}",
        "tools": f"{command_output(['wrk', '--version']).split(' Copyright')[0]}; {command_output(['pgbench', '--version'])}",
    }


def count_list(text: str) -> list[int]:
    if not re.fullmatch(r"[1-9][0-9]*(,[1-9][0-9]*)*", text):
        raise argparse.ArgumentTypeError(f"{text!r}: client counts like 1,4,16,64")
    return [int(part) for part in text.split(",")]


def scenario_list(text: str) -> list[str]:
    if not set(names := text.split(",")) <= set(SCENARIOS):
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {','.join(SCENARIOS)}")
    return [name for name in SCENARIOS if name in names]  # always in the standard order


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--smoke", action="store_true", help="small seed, 3 s per scenario at 4 clients, no error allowed (CI)")
    add("--seconds", type=float, help="length of each run (default 30; smoke 3)")
    add("--clients", type=count_list, help="client counts (default 1,4,16,64; smoke 4)")
    add("--scenarios", type=scenario_list, default=list(SCENARIOS), help=f"a subset of {','.join(SCENARIOS)}")
    add("--warmup", type=float, help="unreported run before each scenario, seconds (default 3; smoke 1)")
    add("--users", type=int, help="pool users (default 1000; smoke 20)")
    add("--per-user", type=int, help="accounts per pool user (default 10; smoke 2)")
    add("--big-entries", type=int, help="entries on the big account (default 1000000; smoke 10000)")
    add("--workers", type=int, default=2, help="gunicorn workers (default 2: one per core)")
    add("--threads", type=int, default=4, help="gunicorn threads per worker (default 4)")
    add("--generator-threads", type=int, default=1, help="wrk/pgbench threads (default 1)")
    add("--batch-size", type=int, default=100, help="transfers per request of batch and sql_batch (default 100)")
    add(
        "--database",
        help="scratch database, and <it>_floor, dropped and recreated (default ledger_bench; smoke ledger_bench_smoke)",
    )
    add("--results", type=Path, help="report folder (default bench/results; smoke bench/results/smoke)")
    add("--profile", action="store_true", help="then transfer at 16 clients under py-spy")
    args = parser.parse_args(argv)
    smoke = args.smoke
    for name, value in {
        "seconds": 3.0 if smoke else 30.0,
        "clients": [4] if smoke else [1, 4, 16, 64],
        "warmup": 1.0 if smoke else 3.0,
        "users": 20 if smoke else 1000,
        "per_user": 2 if smoke else 10,
        "big_entries": 10_000 if smoke else 1_000_000,
        "database": "ledger_bench_smoke" if smoke else "ledger_bench",
        "results": ROOT / "bench" / "results" / ("smoke" if smoke else ""),
    }.items():
        setattr(args, name, value if getattr(args, name) is None else getattr(args, name))
    if not args.database.startswith("ledger_bench"):
        parser.error("--database must start with ledger_bench")
    if args.users < 2 or args.per_user < 1 or args.big_entries < 2 * STATEMENT_PAGE + 2:
        parser.error("need --users >= 2, --per-user >= 1 and --big-entries >= 402")
    if not {"balance", "statement"} & set(args.scenarios):
        args.big_entries = 2 * STATEMENT_PAGE + 2  # only the reads use it: no need to wait for a million rows
    return args


def main(argv) -> int:
    args = parse_args(argv)
    if missing := dependencies_missing(args):
        log(f"bench: ERROR ({', '.join(missing)} not found: `make bench-tools` installs them)")
        return 2
    stamp, started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), time.monotonic()
    same = {"workers": args.workers, "threads": args.threads, "log": log}
    try:
        with (
            tempfile.TemporaryDirectory() as workdir,
            # Tokens must outlive the whole run; the web only checks their expiry.
            Stack(database=args.database, extra_env={"ACCESS_TOKEN_LIFETIME_MINUTES": "1440"}, **same) as service,
            Stack(
                database=f"{args.database}_floor",
                extra_env={"DJANGO_SETTINGS_MODULE": "bench.floor.settings"},
                wsgi_app="bench.floor.wsgi",
                **same,
            ) as floor,
        ):
            log(
                f"stacks      service {service.url} on {service.database}, floor {floor.url} on {floor.database}: gunicorn "
                f"{args.workers} workers x {args.threads} threads, a redis-server each; logs {service.log_path}, {floor.log_path}"
            )
            bench = Bench(args=args, service=service, floor=floor, workdir=Path(workdir))
            with bench.resources:
                bench.setup()
                log(
                    f"load        {args.seconds:g} s per run at {','.join(map(str, args.clients))} clients after a "
                    f"{args.warmup:g} s warm-up per scenario: {', '.join(args.scenarios)}"
                )
                bench.scenarios()
                if args.profile:
                    profile_run(bench)
    except CheckFailed as exc:
        log(f"bench: FAIL ({exc})")
        return 1
    except (StackError, SeedError, LoadError, ReplicaError, psycopg.Error, subprocess.CalledProcessError) as exc:
        log(f"bench: ERROR ({exc})")
        return 2
    bench.env["total_minutes"] = (time.monotonic() - started) / 60

    from bench import report

    md = report.write(args.results, stamp, args=args, bench=bench)
    log(f"report      {md} and its chart; took {bench.env['total_minutes']:.1f} min")
    if bench.failures:
        log("bench: FAIL (" + "; ".join(bench.failures[:5]) + (" ..." if len(bench.failures) > 5 else "") + ")")
        return 1
    log(
        "bench: PASS ("
        + ("every response a 2xx" if args.smoke else "no 5xx response")
        + ", every check passed after every write run)"
    )
    return 0


def profile_run(bench: Bench):
    from bench import profile

    bench.env["profile"] = profile.profile_transfer(
        pyspy=pyspy(),
        url=bench.service.url,
        master=bench.service.process.pid,
        users_file=bench.workdir / "users.txt",
        nonce=nonce(),
        folder=bench.args.results,
        clients=16,
        log=log,
    )
    profiled, verify = bench.env["profile"], ledger_check()
    errors = profiled.get("server_errors") and f"{profiled['server_errors']} 5xx"
    if problems := [p for p in (profiled.get("failed"), errors, verify != "ok" and f"verify_ledger: {verify}") if p]:
        bench.failures.append("profile run: " + ", ".join(problems))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
