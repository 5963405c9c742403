"""make bench: the service measured end to end, beside the raw-SQL ceiling of the same work.

    .venv/bin/python bench/run.py [--seconds 30] [--clients 1,4,16,64] [--smoke] [--profile]

1. Stack (bench/stack.py): a scratch database (`--database`, dropped and recreated), migrations,
   gunicorn (`--workers` x `--threads`) on a free port, Redis databases 4 and 5, throttles raised.
2. Seed (bench/seed.py) through the project's services: `--users` users x `--per-user` funded
   accounts, a reader whose `small` account has 10 entries and whose `big` one has
   `--big-entries` (bulk SQL, then verify_ledger).
3. Scenarios, each for `--seconds` at every client count (wrk, one keep-alive connection per
   client, a closed loop): transfer, sql_ceiling (pgbench, bench/sql/transfer.sql), funding_hot,
   balance (small and big account), statement (first page and a page 90% deep on the big account);
   the writes then the reads, interleaved by client count (Bench.scenarios). After every run of a
   write scenario, verify_ledger must pass and no response may be a 5xx.
4. Report (bench/report.py): bench/results/<timestamp>.md, .png (throughput against clients) and
   .json (every number, to compare runs).

`--smoke` (make bench-smoke, CI): a small seed, every scenario for 3 s at 4 clients, and every
response must be a 2xx; it checks the harness and correctness, never speed. `--profile` also runs
transfer at 16 clients under py-spy and writes a profile summary (make bench-profile).
Exit code 0, 1 when a check failed, 2 when the benchmark could not run.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench import procstat  # noqa: E402
from bench.load import LoadError, Measurement, pgbench_run, wrk_run  # noqa: E402
from bench.seed import SeedError, World, pick_table_create, world_seed  # noqa: E402
from bench.stack import Stack, StackError  # noqa: E402

BENCH = ROOT / "bench"
TRANSFER_SQL = BENCH / "sql" / "transfer.sql"
BENCH_APPLICATION_NAME = "ledger-bench"
STATEMENT_PAGE = 200  # entries per statement page (the API's maximum)
WRITE_SCENARIOS = ("transfer", "sql_ceiling", "funding_hot")
ALL_SCENARIOS = ("transfer", "sql_ceiling", "funding_hot", "balance", "statement")


def log(message: str = ""):
    print(message, flush=True)


@dataclass
class Run:
    scenario: str
    target: str  # which account or page, for the read scenarios
    clients: int
    measurement: Measurement
    usage: procstat.Usage
    verify: str | None = None  # write scenarios: "ok" or the violations
    verify_seconds: float = 0.0
    warmup: bool = False
    role: str = ""  # small/big, first/deep: what the report's targets compare
    disturbed: str = ""  # something outside the bench interfered (PostgreSQL restarted)

    @property
    def label(self) -> str:
        return f"{self.scenario}{f' ({self.target})' if self.target else ''} at {self.clients} clients"


@dataclass
class Target:
    """A read scenario's subject: the path wrk requests and as whom."""

    role: str
    name: str
    path: str
    token: str


@dataclass
class Bench:
    args: argparse.Namespace
    stack: Stack
    world: World
    workdir: Path
    users_file: Path
    reads: dict[str, list[Target]] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)
    nonce: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    # --- one run ---------------------------------------------------------------------------------

    def measure(self, scenario: str, target: Target | None, clients: int, seconds: float, *, warmup=False) -> Run:
        """One run; measured again (at most twice) when PostgreSQL restarted meanwhile: other
        suites on a shared machine restart the server (tests/faults), and the 503s that causes
        are not the service's doing. The report lists every run that had to be repeated."""
        restarted = "PostgreSQL was restarted during this run, by something outside the bench"
        for attempt in range(3):
            postgres_wait(self.stack)
            postmaster = postmaster_started(self.stack)
            try:
                run = self._measure_once(scenario, target, clients, seconds, warmup=warmup)
            except LoadError:  # pgbench could not connect at all, say
                if attempt == 2 or postmaster_started(self.stack) == postmaster:
                    raise
                run = None
            else:
                if postmaster_started(self.stack) == postmaster:
                    break
                if attempt == 2:
                    run.disturbed = restarted  # judged as a failure
                    break
            label = f"{scenario}{f' ({target.name})' if target else ''} at {clients} clients"
            self.repeated.append(f"{label}: {restarted}; measured again")
            log(f"  note {restarted}: measuring {label} again")
        self.judge(run)
        if not warmup:
            self.runs.append(run)
        return run

    def _measure_once(self, scenario: str, target: Target | None, clients: int, seconds: float, *, warmup: bool) -> Run:
        master = self.stack.process.pid
        sampler = procstat.Sampler(
            {
                "web": lambda: [master, *procstat.children(master)],
                "postgres": lambda: procstat.postgres_serving(self.stack.database),
            },
            rss_pids=lambda: procstat.children(master),
        )
        sampler.start()
        try:
            measurement = self.generate(scenario, target, clients, seconds)
        finally:
            usage = sampler.stop()
        run = Run(scenario, target.name if target else "", clients, measurement, usage, warmup=warmup, role=target.role if target else "")
        if scenario in WRITE_SCENARIOS:
            started = time.monotonic()
            run.verify = ledger_check(self.stack)
            run.verify_seconds = time.monotonic() - started
        return run

    def generate(self, scenario: str, target: Target | None, clients: int, seconds: float) -> Measurement:
        url = self.stack.url
        nonce = f"{self.nonce}-{scenario}-{clients}-{uuid.uuid4().hex[:6]}"
        threads = self.args.generator_threads
        if scenario == "transfer":
            return wrk_run(url=url, script="transfer.lua", args=[str(self.users_file), nonce], clients=clients, seconds=seconds, threads=threads)
        if scenario == "funding_hot":
            return wrk_run(
                url=url, script="funding.lua", args=[str(self.users_file), nonce, self.world.system_token],
                clients=clients, seconds=seconds, threads=threads,
            )
        if scenario == "sql_ceiling":
            per_user = len(self.world.users[0][1])
            return pgbench_run(
                conninfo=self.stack.admin_conninfo(self.stack.database), script=TRANSFER_SQL,
                defines={"users": len(self.world.users), "per_user": per_user, "accounts": self.world.accounts},
                clients=clients, seconds=seconds, workdir=self.workdir, threads=threads,
            )
        return wrk_run(url=url, script="get.lua", args=[target.path, target.token], clients=clients, seconds=seconds, threads=threads)

    def judge(self, run: Run):
        m = run.measurement
        problems = []
        if m.server_errors:
            problems.append(f"{m.server_errors} responses were 5xx")
        if run.verify not in (None, "ok"):
            problems.append(f"verify_ledger failed: {run.verify}")
        if self.args.smoke and m.errors:
            problems.append(f"{m.errors} errors {m.errors_by_status} (smoke mode allows none)")
        if m.requests == 0:
            problems.append("no request completed")
        if run.disturbed:
            problems.append(run.disturbed)
        samples = f"; first error bodies: {m.error_samples}" if m.error_samples else ""
        line = (
            f"  {run.label:<44} {m.rate:9.1f} req/s  p50 {m.latency_ms['p50']:7.1f} ms  p99 {m.latency_ms['p99']:7.1f} ms"
            f"  errors {m.errors}"
            + (f"  verify {run.verify} ({run.verify_seconds:.1f} s)" if run.verify is not None else "")
            + ("  [warm-up]" if run.warmup else "")
        )
        log(line)
        for problem in problems:
            self.failures.append(f"{run.label}: {problem}")
            log(f"  FAIL {problem}{samples}")
        if not problems and m.errors:
            log(f"  note {m.errors} non-2xx/transport errors {m.errors_by_status}{samples}")

    # --- the scenarios -----------------------------------------------------------------------------

    def scenarios(self, names: list[str]):
        """The writes, then the reads, each group interleaved: at every client count each of its
        scenarios (and each read's two subjects) runs in turn. Runs that the targets compare are
        then a minute apart rather than a quarter of an hour, so a neighbour's load on a shared
        machine, or the tables' growth, weighs on both alike."""
        for group in ([n for n in names if n in WRITE_SCENARIOS], [n for n in names if n not in WRITE_SCENARIOS]):
            subjects = [(name, target) for name in group for target in self.reads.get(name, [None])]
            if self.args.warmup > 0:
                for name, target in subjects:
                    self.measure(name, target, min(self.args.clients), self.args.warmup, warmup=True)
            for clients in self.args.clients:
                for name, target in subjects:
                    try:
                        self.measure(name, target, clients, self.args.seconds)
                    except LoadError as exc:  # e.g. pgbench refused connections: record it, measure the rest
                        self.failures.append(f"{name} at {clients} clients: {str(exc).splitlines()[0]}")
                        log(f"  FAIL {name} at {clients} clients: {exc}")


def postmaster_started(stack: Stack):
    try:
        with psycopg.connect(**stack.admin_conninfo()) as conn:
            return conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
    except psycopg.Error:
        return None


def postgres_wait(stack: Stack, timeout: float = 120.0):
    """Return once PostgreSQL answers; something else may have restarted it."""
    deadline = time.monotonic() + timeout
    while postmaster_started(stack) is None:
        if time.monotonic() > deadline:
            raise StackError(f"PostgreSQL did not answer for {timeout:.0f} s")
        time.sleep(1)


def database_error(exc: BaseException) -> bool:
    if isinstance(exc, psycopg.Error):
        return True
    if "django.db" in sys.modules:
        from django.db import Error

        return isinstance(exc, Error)
    return False


def ledger_check(stack: Stack) -> str:
    from django.db import OperationalError, connections

    from transactions.audit import ledger_verify

    for attempt in range(3):
        try:
            report = ledger_verify()
            break
        except OperationalError:  # the server restarted under us (see Bench.measure): wait, then again
            if attempt == 2:
                raise
            connections.close_all()
            postgres_wait(stack)
        finally:
            connections.close_all()  # never hold a connection while the load runs
    return "ok" if report.ok else report.summary()


# --- setup helpers -------------------------------------------------------------------------------


def http_get(stack: Stack, path: str, token: str) -> dict:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise SeedError(f"GET {path}: {response.status} {body[:300]!r}")
    return json.loads(body)


def statement_cursor(position: int) -> str:
    """The cursor the statement puts in `next` after an entry at `position` when positions are
    unique (no offset, not reversed), signed as the API signs it (same settings, same key)."""
    from rest_framework.pagination import Cursor

    from transactions.apis import EntryPagination

    return EntryPagination().cursor_sign(Cursor(offset=0, reverse=False, position=str(position)))


def statement_pages(stack: Stack, world: World, depth: int) -> tuple[str, str]:
    """The first page of the big account's statement and the page `depth` entries deep.

    A client reaches the deep page by following `next` depth / 200 times; we build the same
    cursor directly and prove it is the same: our cursor for the first page's last entry must
    equal the API's own `next`, and the deep page must list exactly the entries SQL finds at
    OFFSET depth (newest first)."""
    base = f"/api/accounts/{world.big_account_id}/entries"
    first = f"{base}?limit={STATEMENT_PAGE}"
    page = http_get(stack, first, world.reader_token)
    issued = parse_qs(urlsplit(page["next"]).query)["cursor"][0]
    if issued != statement_cursor(page["entries"][-1]["id"]):
        raise SeedError(f"the API's cursor {issued!r} is not the one we build ({statement_cursor(page['entries'][-1]['id'])!r})")
    with psycopg.connect(**stack.admin_conninfo(stack.database)) as conn:
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM transactions_ledgerentry WHERE account_id = %s ORDER BY id DESC OFFSET %s LIMIT %s",
                [world.big_account_id, depth - 1, STATEMENT_PAGE + 1],
            ).fetchall()
        ]
    deep = f"{base}?{urlencode({'cursor': statement_cursor(ids[0]), 'limit': STATEMENT_PAGE})}"
    got = [entry["id"] for entry in http_get(stack, deep, world.reader_token)["entries"]]
    if got != ids[1:]:
        raise SeedError(f"the page {depth} deep lists {got[:3]}..., SQL says {ids[1:4]}...")
    return first, deep


def transfer_statements(world: World) -> list[str]:
    """The SQL one POST /api/transactions sends, captured in-process through Django's test client
    (the health check's SELECT 1 on a reused connection is sent on the raw connection and is not
    captured: the report adds it)."""
    from django.db import connection, connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    token, accounts = world.users[0]
    body = {"fromAccount": accounts[0], "toAccount": world.users[-1][1][-1], "amount": "0.01", "idempotencyKey": f"bench-capture-{uuid.uuid4()}"}
    client = Client(HTTP_HOST="127.0.0.1")
    with CaptureQueriesContext(connection) as captured:
        response = client.post("/api/transactions", data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    connections.close_all()
    if response.status_code != 201:
        raise SeedError(f"captured transfer answered {response.status_code}: {response.content[:300]!r}")
    return [" ".join(query["sql"].split()) for query in captured.captured_queries]


def script_statements(path: Path) -> int:
    """SQL commands in a pgbench script: each ends with `;` or `\\gset` outside comments."""
    count = 0
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith(("--", "\\set")):
            continue
        if stripped.endswith(";") or stripped == "\\gset":
            count += 1
    return count


# --- environment -----------------------------------------------------------------------------------

PG_SETTINGS = (
    "shared_buffers", "effective_cache_size", "work_mem", "max_connections", "synchronous_commit", "fsync",
    "full_page_writes", "wal_level", "max_wal_size", "checkpoint_timeout", "commit_delay", "random_page_cost", "jit",
)


def command_output(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False, cwd=ROOT)
    except OSError:
        return ""
    return (result.stdout or result.stderr).strip()


def environment(stack: Stack, args) -> dict:
    with psycopg.connect(**stack.admin_conninfo(stack.database)) as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
        settings = {
            name: f"{setting}{unit or ''}".replace("8kB", " x 8kB")
            for name, setting, unit in conn.execute(
                "SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s) ORDER BY name", [list(PG_SETTINGS)]
            ).fetchall()
        }
    import redis

    redis_version = redis.Redis.from_url(stack.cache_url).info("server").get("redis_version", "?")
    cpu_model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?"
    )
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    dirty = command_output(["git", "status", "--porcelain", "--untracked-files=no"])
    venv_bin = ROOT / ".venv" / "bin"
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "load_average_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "postgresql": pg_version,
        "postgresql_settings": settings,
        "redis": redis_version,
        "python": platform.python_version(),
        "gunicorn": command_output([str(venv_bin / "gunicorn"), "--version"]),
        "wrk": command_output(["wrk", "--version"]).splitlines()[0] if shutil.which("wrk") else "?",
        "pgbench": command_output(["pgbench", "--version"]),
        "commit": command_output(["git", "rev-parse", "HEAD"]),
        "commit_subject": command_output(["git", "log", "-1", "--format=%s"]),
        "uncommitted_files": len(dirty.splitlines()) if dirty else 0,
        "workers": args.workers,
        "threads": args.threads,
    }


def busy_cores(seconds: float) -> float:
    busy0, total0 = procstat.machine_jiffies()
    time.sleep(seconds)
    busy1, total1 = procstat.machine_jiffies()
    return (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1) if total1 > total0 else 0.0


# --- main --------------------------------------------------------------------------------------------


def client_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: client counts like 1,4,16,64") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: client counts like 1,4,16,64")
    return counts


def scenario_list(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in ALL_SCENARIOS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown scenarios {unknown}; choose from {', '.join(ALL_SCENARIOS)}")
    return [name for name in ALL_SCENARIOS if name in names]  # always in the standard order


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="small seed, 3 s per scenario at 4 clients, no error allowed (CI)")
    parser.add_argument("--seconds", type=float, help="length of each run (default 30; smoke 3)")
    parser.add_argument("--clients", type=client_counts, help="client counts (default 1,4,16,64; smoke 4)")
    parser.add_argument("--scenarios", type=scenario_list, default=list(ALL_SCENARIOS), help=f"subset of {','.join(ALL_SCENARIOS)}")
    parser.add_argument("--warmup", type=float, help="unreported run before each scenario, seconds (default 3; smoke 1)")
    parser.add_argument("--users", type=int, help="pool users (default 1000; smoke 20)")
    parser.add_argument("--per-user", type=int, help="accounts per pool user (default 10; smoke 2)")
    parser.add_argument("--big-entries", type=int, help="entries on the big account (default 1000000; smoke 10000)")
    parser.add_argument("--deep-fraction", type=float, default=0.9, help="how deep the deep statement page is (default 0.9)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2: one per core)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (default 4)")
    parser.add_argument("--generator-threads", type=int, default=1, help="wrk/pgbench threads (default 1)")
    parser.add_argument("--database", help="scratch database, dropped and recreated (default ledger_bench; smoke ledger_bench_smoke)")
    parser.add_argument("--results", type=Path, help="report folder (default bench/results; smoke bench/results/smoke)")
    parser.add_argument("--profile", action="store_true", help="also profile transfer at 16 clients with py-spy")
    parser.add_argument("--profile-clients", type=int, default=16)
    args = parser.parse_args(argv)
    smoke = args.smoke
    defaults = {
        "seconds": 3.0 if smoke else 30.0,
        "clients": [4] if smoke else [1, 4, 16, 64],
        "warmup": 1.0 if smoke else 3.0,
        "users": 20 if smoke else 1000,
        "per_user": 2 if smoke else 10,
        "big_entries": 10_000 if smoke else 1_000_000,
        "database": "ledger_bench_smoke" if smoke else "ledger_bench",
        "results": BENCH / "results" / ("smoke" if smoke else ""),
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if not args.database.startswith("ledger_bench"):
        parser.error("--database must start with ledger_bench")
    if args.users < 2 or args.per_user < 1 or args.big_entries < 2 * STATEMENT_PAGE + 2 or not 0 < args.deep_fraction < 1:
        parser.error("need --users >= 2, --per-user >= 1, --big-entries >= 402 and 0 < --deep-fraction < 1")
    return args


def main(argv) -> int:
    args = parse_args(argv)
    missing = [tool for tool in ("wrk", "pgbench") if shutil.which(tool) is None]
    if missing:
        log(f"bench: ERROR ({', '.join(missing)} not found: `make bench` installs them with apt-get)")
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.results.mkdir(parents=True, exist_ok=True)
    workdir = args.results / f"{stamp}.tmp"
    workdir.mkdir()
    started = time.monotonic()
    try:
        stack = Stack(
            database=args.database, workers=args.workers, threads=args.threads, cache_db=4, broker_db=5,
            # Tokens must outlive the whole run; the web only checks their expiry.
            extra_env={"ACCESS_TOKEN_LIFETIME_MINUTES": "1440"}, log=log,
        )
        for attempt in range(3):
            postgres_wait(stack)
            postmaster = postmaster_started(stack)
            try:
                with stack:
                    bench, env = run_all(args, stack, workdir)
                break
            except Exception as exc:
                # A server restarted by something else (tests/faults on a shared machine) breaks
                # seeding or the setup around the runs; Bench.measure handles it within a run.
                if attempt == 2 or not database_error(exc) or postmaster_started(stack) == postmaster:
                    raise
                log(f"note        PostgreSQL was restarted by something outside the bench ({exc}); starting over")
                from django.db import connections

                connections.close_all()
    except (StackError, SeedError, LoadError) as exc:
        log(f"bench: ERROR ({exc})")
        return 2
    except Exception as exc:
        if not database_error(exc):
            raise
        log(f"bench: ERROR (database: {exc})")
        return 2
    env["total_seconds"] = time.monotonic() - started
    env["started_over"] = attempt  # times PostgreSQL restarted under the setup and it began again

    from bench import report

    md, png, _ = report.write(args.results, stamp, args=args, env=env, bench=bench)
    shutil.rmtree(workdir, ignore_errors=True)
    log(f"report      {md.relative_to(ROOT) if md.is_relative_to(ROOT) else md}")
    log(f"chart       {png.relative_to(ROOT) if png.is_relative_to(ROOT) else png}")
    log(f"took        {env['total_seconds']:.0f} s")
    if bench.failures:
        log("bench: FAIL (" + "; ".join(bench.failures[:5]) + (" ..." if len(bench.failures) > 5 else "") + ")")
        return 1
    log("bench: PASS (" + ("every response a 2xx" if args.smoke else "no 5xx response") + ", verify_ledger passed after every write run)")
    return 0


def run_all(args, stack: Stack, workdir: Path) -> tuple[Bench, dict]:
    log(f"stack       {stack.url}: database {stack.database}, gunicorn {args.workers} workers x {args.threads} threads "
        f"(gthread), Redis cache {stack.cache_url}, broker {stack.broker_url}; log {stack.log_path}")
    os.environ.update(stack.env)
    os.environ["PGAPPNAME"] = BENCH_APPLICATION_NAME
    import django

    django.setup()
    env = environment(stack, args)
    env["busy_cores_before_start"] = busy_cores(3.0)
    if env["busy_cores_before_start"] > 0.3:
        log(f"warning     the machine was already busy before the run ({env['busy_cores_before_start']:.2f} cores): "
            "other processes share the cores; see the 'other' CPU column")
    if not {"balance", "statement"} & set(args.scenarios) and args.big_entries > 1000:
        args.big_entries = 1000  # only the read scenarios use it; no need to wait for a million rows
    log(f"seed        {args.users:,} users x {args.per_user} accounts, big account {args.big_entries:,} entries")
    conninfo = stack.admin_conninfo(stack.database)
    world = world_seed(
        conninfo=conninfo, users=args.users, per_user=args.per_user, small_entries=10, big_entries=args.big_entries, log=log
    )
    users_file = workdir / "users.txt"
    users_file.write_text(world.users_file_text())
    pick_table_create(conninfo, world)

    depth = round(args.big_entries * args.deep_fraction)
    first_page, deep_page = statement_pages(stack, world, depth)
    env["statement_depth"] = depth
    env["seed"] = {
        "users": args.users, "per_user": args.per_user, "accounts": world.accounts, "big_entries": world.big_entries,
        "small_entries": world.small_entries, "timings": world.timings,
    }
    captured = transfer_statements(world)
    env["transfer_statements"] = ["SELECT 1 (connection health check, CONN_HEALTH_CHECKS)", *captured]
    env["sql_ceiling_statements"] = script_statements(TRANSFER_SQL)
    log(f"statements  one transfer: {len(captured) + 1} (with the health check); bench/sql/transfer.sql: {env['sql_ceiling_statements']}")

    bench = Bench(args=args, stack=stack, world=world, workdir=workdir, users_file=users_file)
    bench.reads = {
        "balance": [
            Target("small", f"{world.small_entries} entries", f"/api/accounts/balance/{world.small_account_id}", world.reader_token),
            Target("big", f"{world.big_entries:,} entries", f"/api/accounts/balance/{world.big_account_id}", world.reader_token),
        ],
        "statement": [
            Target("first", "first page", first_page, world.reader_token),
            Target("deep", f"page {depth:,} deep", deep_page, world.reader_token),
        ],
    }
    log(f"load        {args.seconds:g} s per run at {','.join(map(str, args.clients))} clients; "
        f"warm-up {args.warmup:g} s per scenario; scenarios {', '.join(args.scenarios)}")
    bench.scenarios(args.scenarios)
    if args.profile:
        from bench import profile

        env["profile"] = profile.profile_transfer(bench, clients=args.profile_clients, log=log)
        profiled = env["profile"].get("server_errors", 0)
        verify = ledger_check(stack)
        if profiled or verify != "ok":
            bench.failures.append(f"profile run: {profiled} 5xx, verify_ledger {verify}")
    return bench, env


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
