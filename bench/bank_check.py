"""Jepsen-style bank check: drive the running service with concurrent clients, then audit the ledger.

    .venv/bin/python bench/bank_check.py --seconds 60 --clients 32 [--nemesis]

1. Stack (bench/stack.py): a scratch database (`--database`, dropped and recreated), migrations,
   gunicorn on a free port with throttles raised, and a redis-server of its own on a free port
   (or the one on `--redis-port`, whose `--redis-dbs` are then flushed). No Celery worker.
2. Setup, through the project's own services: a system user, one user per client with two INR
   accounts and a JWT each, every account funded with `--funding` through the HTTP initial-funds
   endpoint.
3. Load: each client thread, on its own persistent HTTP connection, sends random transfers from
   its accounts to any client account (fresh idempotency key each) and full-balance reads, for
   `--seconds`. Every transfer is kept with its key, body and outcome: ok (201), failed (4xx:
   definite, nothing or a FAILED transaction stored) or unknown (timeout, connection error, 5xx:
   it may or may not have happened). `--nemesis` terminates a random web backend of the scratch
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
import contextlib
import http.client
import json
import os
import random
import re
import secrets
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.stack import Stack, StackError  # noqa: E402
from tests.faults.processes import free_port, redis_server  # noqa: E402  (the fault tests' launcher)

CHECKER_APPLICATION_NAME = "bank-check"  # the checker's own PostgreSQL sessions; the nemesis spares them
CURRENCY = "INR"
BALANCE_TEXT = re.compile(r"\A(0|[1-9][0-9]*)\.[0-9]{2}\Z")  # INR: exactly two places, no sign
# 422 codes that store a FAILED transaction (the key is spent); any other 422 stores nothing.
DECLINE_CODES = {"insufficient_funds", "account_inactive"}
TRANSFER_PATH = "/api/transactions"
FUNDING_PATH = "/api/transactions/system/initial-funds"


def money(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100:,}.{abs(minor) % 100:02d}"


def money_text(minor: int) -> str:
    """Wire form of an INR amount: "12.30"."""
    return f"{minor // 100}.{minor % 100:02d}"


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


# --- HTTP -------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int | None  # None: no answer (timeout, connection error)
    body: bytes = b""
    replayed: bool = False
    error: str = ""
    latency: float = 0.0

    def json(self) -> dict:
        try:
            data = json.loads(self.body)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def code(self) -> str:
        if self.status is None:
            return self.error
        return str(self.json().get("code", ""))


def outcome_of(status: int | None) -> str:
    """ok: it happened; failed: it definitely did not move money; unknown: it may have."""
    if status is not None and 200 <= status < 300:
        return "ok"
    if status is not None and 400 <= status < 500:
        return "failed"
    return "unknown"  # no answer, any 5xx (500, 503 service_unavailable, 502/504 from a proxy)


class Connection:
    """One persistent HTTP/1.1 connection. After a transport error it is dropped (a late answer
    must never be read as the next request's) and the next call opens a new one."""

    def __init__(self, host: str, port: int, timeout: float):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None

    def call(self, method: str, path: str, *, token: str, body: str | None = None) -> Reply:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        start = time.monotonic()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.conn.request(method, path, body=body.encode() if body is not None else None, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return Reply(None, error=type(exc).__name__, latency=time.monotonic() - start)
        if response.will_close:
            self.close()
        return Reply(
            response.status,
            data,
            replayed=response.getheader("Idempotent-Replayed") == "true",
            latency=time.monotonic() - start,
        )

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def call_until_definite(conn: Connection, path: str, *, token: str, body: str, deadline: float) -> Reply | None:
    """Send the same keyed request until the answer is definite (any 2xx or 4xx but 429);
    None if the deadline passes first. Safe only because the key makes it idempotent."""
    pause = 0.1
    while True:
        reply = conn.call("POST", path, token=token, body=body)
        if reply.status is not None and reply.status < 500 and reply.status != 429:
            return reply
        if time.monotonic() + pause > deadline:
            return None
        time.sleep(pause)
        pause = min(pause * 2, 2.0)


# --- the world: users, accounts, tokens, funding ------------------------------------------------


@dataclass
class Customer:
    index: int
    user_id: str
    token: str
    accounts: list[str]


@dataclass
class World:
    host: str
    port: int
    system_user_id: str
    system_account_id: str
    customers: list[Customer]
    funding: int  # minor units per account
    funding_keys: set[str] = field(default_factory=set)

    @property
    def accounts(self) -> list[str]:
        return [account for customer in self.customers for account in customer.accounts]

    @property
    def total_funded(self) -> int:
        return self.funding * len(self.accounts)


def world_create(stack: Stack, *, clients: int, funding: int, timeout: float) -> World:
    """Users, accounts and tokens through the services; funding through the HTTP API."""
    from django.db import connections

    from accounts.models import Account
    from accounts.services import account_open
    from authn.services import tokens_issue, user_create
    from authn.services import system_user_ensure

    system, _, _ = system_user_ensure(email="bank-check-system@example.com", name="Bank Check System")
    system_account = Account.objects.get(owner=system, currency=CURRENCY, is_system=True)
    system_token, _ = tokens_issue(user=system)
    customers = []
    for index in range(clients):
        user = user_create(
            email=f"bank-check-client-{index}@example.com", name=f"Bank Check Client {index}", password=secrets.token_urlsafe(16)
        )
        accounts = [str(account_open(owner=user, currency=CURRENCY).id) for _ in range(2)]
        customers.append(Customer(index, str(user.id), tokens_issue(user=user)[0], accounts))
    # The load must not find the checker holding a connection (nor the nemesis kill it).
    connections.close_all()

    world = World("127.0.0.1", stack.port, str(system.id), str(system_account.id), customers, funding)
    conn = Connection(world.host, world.port, timeout)
    for account in world.accounts:
        key = f"bank-check-fund-{account}"
        body = json.dumps({"toAccount": account, "amount": money_text(funding), "idempotencyKey": key})
        reply = call_until_definite(conn, FUNDING_PATH, token=system_token, body=body, deadline=time.monotonic() + 60)
        if reply is None or reply.status not in (200, 201):
            raise StackError(f"funding {account} failed: {reply and reply.status} {reply and reply.body[:200]!r}")
        world.funding_keys.add(key)
    conn.close()
    return world


# --- load -------------------------------------------------------------------------------------


@dataclass
class Transfer:
    client: int
    user_id: str
    key: str
    body: str
    source: str
    target: str
    amount: int
    status: int | None
    code: str
    outcome: str
    latency: float
    transaction_id: str = ""
    # After resolution: completed | declined (a FAILED transaction) | rejected (nothing stored) | unknown
    final: str = ""
    resolution: str = ""  # for unknowns only


@dataclass
class ClientLog:
    transfers: list[Transfer] = field(default_factory=list)
    reads: Counter = field(default_factory=Counter)  # outcome -> count
    read_latencies: list[float] = field(default_factory=list)
    read_anomalies: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # definite answers no valid request should get
    non_json_errors: int = 0


def acknowledgement_problem(transfer: Transfer, reply: Reply) -> str:
    """What is wrong with a 201/200's transaction, compared with what was asked; "" if nothing."""
    txn = reply.json().get("transaction") or {}
    expected = {
        "fromAccount": transfer.source,
        "toAccount": transfer.target,
        "amount": money_text(transfer.amount),
        "idempotencyKey": transfer.key,
    }
    wrong = {name: txn.get(name) for name, value in expected.items() if txn.get(name) != value}
    if txn.get("status") not in ("COMPLETED", "REVERSED"):
        wrong["status"] = txn.get("status")
    return f"{transfer.key}: acknowledged transaction differs from the request: {wrong}" if wrong else ""


def transfer_send(conn: Connection, rng: random.Random, me: Customer, world: World, seq: int, max_amount: int, log: ClientLog):
    source = rng.choice(me.accounts)
    target = rng.choice([account for account in world.accounts if account != source])
    amount = rng.randint(1, max_amount)
    key = f"bank-{me.index}-{seq}-{uuid.uuid4().hex[:12]}"
    # Half the amounts go as JSON numbers, half as strings: both are part of the contract.
    amount_json = money_text(amount) if rng.random() < 0.5 else json.dumps(money_text(amount))
    body = json.dumps({"fromAccount": source, "toAccount": target, "amount": "__AMOUNT__", "idempotencyKey": key})
    body = body.replace('"__AMOUNT__"', amount_json)

    reply = conn.call("POST", TRANSFER_PATH, token=me.token, body=body)
    outcome = outcome_of(reply.status)
    transfer = Transfer(me.index, me.user_id, key, body, source, target, amount, reply.status, reply.code, outcome, reply.latency)
    if reply.status is not None and reply.status >= 400 and not reply.json():
        log.non_json_errors += 1
    if reply.status == 201:
        transfer.transaction_id = str((reply.json().get("transaction") or {}).get("id", ""))
        problem = acknowledgement_problem(transfer, reply)
        if problem:
            log.unexpected.append(problem)
    elif outcome == "ok" or (outcome == "failed" and reply.status not in (422, 429)) or (
        reply.status == 422 and reply.code != "insufficient_funds"
    ):
        # A fresh key cannot replay (200), and a valid body is never a 400/401/403/404/409.
        log.unexpected.append(f"{key}: {reply.status} {reply.code}")
    log.transfers.append(transfer)


def balances_read(conn: Connection, me: Customer, log: ClientLog):
    reply = conn.call("GET", "/api/accounts", token=me.token)
    outcome = outcome_of(reply.status)
    log.reads[outcome] += 1
    log.read_latencies.append(reply.latency)
    if reply.status is not None and reply.status >= 400 and not reply.json():
        log.non_json_errors += 1
    if outcome == "failed":
        log.unexpected.append(f"GET /api/accounts: {reply.status} {reply.code}")
    if reply.status != 200:
        return
    accounts = reply.json().get("accounts")
    if not isinstance(accounts, list) or sorted(str(a.get("id")) for a in accounts) != sorted(me.accounts):
        log.read_anomalies.append(f"client {me.index}: accounts listed {accounts!r:.200}")
        return
    for account in accounts:
        balance = account.get("balance")
        if not isinstance(balance, str) or not BALANCE_TEXT.match(balance):
            log.read_anomalies.append(f"account {account.get('id')}: balance {balance!r}")


def client_run(me: Customer, world: World, args, deadline: float, stop: threading.Event, log: ClientLog):
    rng = random.Random(f"{args.seed}-{me.index}")
    conn = Connection(world.host, world.port, args.timeout)
    seq = 0
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            if rng.random() < args.read_ratio:
                balances_read(conn, me, log)
            else:
                seq += 1
                transfer_send(conn, rng, me, world, seq, args.max_amount, log)
    except Exception as exc:  # a bug of the checker's own must fail the run, not end one client quietly
        log.unexpected.append(f"client {me.index} crashed: {exc!r}")
    finally:
        conn.close()


class Nemesis(threading.Thread):
    """Every `interval` seconds, terminate one random client backend of the scratch database,
    preferring one that is busy (a request in flight) so the kill lands inside a request.
    It connects to the maintenance database, so its own session is never a candidate."""

    def __init__(self, stack: Stack, interval: float, seed: str):
        super().__init__(daemon=True)
        self.stack, self.interval = stack, interval
        self.rng = random.Random(seed)
        self.stop_event = threading.Event()
        self.kills = self.busy_kills = 0
        self.error = ""

    def run(self):
        query = """
            SELECT pid, state FROM pg_stat_activity
            WHERE datname = %s AND backend_type = 'client backend'
              AND pid <> pg_backend_pid() AND application_name <> %s
        """
        try:
            with psycopg.connect(autocommit=True, **self.stack.admin_conninfo()) as conn:
                while not self.stop_event.wait(self.interval):
                    backends = conn.execute(query, [self.stack.database, CHECKER_APPLICATION_NAME]).fetchall()
                    busy = [row for row in backends if row[1] in ("active", "idle in transaction")]
                    if not backends:
                        continue
                    pid, state = self.rng.choice(busy or backends)
                    if conn.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]:
                        self.kills += 1
                        self.busy_kills += state in ("active", "idle in transaction")
        except psycopg.Error as exc:
            self.error = str(exc).strip()


# --- resolution -----------------------------------------------------------------------------


def finals_assign(logs: list[ClientLog], world: World, timeout: float, budget: float) -> list[str]:
    """Give every transfer its final state; send each unknown again with its key and body until
    the answer is definite. Returns the unexpected answers met on the way."""
    unexpected = []
    tokens = {customer.user_id: customer.token for customer in world.customers}
    conn = Connection(world.host, world.port, timeout)
    deadline = time.monotonic() + budget
    for log in logs:
        for t in log.transfers:
            if t.outcome == "ok":
                t.final = "completed"
            elif t.outcome == "failed":
                t.final = "declined" if t.status == 422 and t.code in DECLINE_CODES else "rejected"
            else:
                reply = call_until_definite(conn, TRANSFER_PATH, token=tokens[t.user_id], body=t.body, deadline=deadline)
                if reply is None:
                    t.final, t.resolution = "unknown", "unresolved"
                elif reply.status in (200, 201):
                    t.final = "completed"
                    t.resolution = "had committed" if reply.status == 200 else "had not committed (applied by the retry)"
                    t.transaction_id = str((reply.json().get("transaction") or {}).get("id", ""))
                    problem = acknowledgement_problem(t, reply)
                    if problem:
                        unexpected.append(problem)
                elif reply.status == 422 and reply.code in DECLINE_CODES:
                    t.final = "declined"
                    t.resolution = "had been declined" if reply.replayed else "had not committed (declined on retry)"
                else:
                    t.final, t.resolution = "rejected", f"rejected on retry ({reply.status} {reply.code})"
                    unexpected.append(f"{t.key}: retry answered {reply.status} {reply.code}")
    conn.close()
    return unexpected


# --- checks ---------------------------------------------------------------------------------

SNAPSHOT_ACCOUNTS = "SELECT id, owner_id, is_system, currency, balance FROM accounts_account"
SNAPSHOT_TRANSACTIONS = """
    SELECT k.initiator_id, k.key, t.id, t.kind, t.status, t.from_account_id, t.to_account_id, t.amount
    FROM transactions_transaction t JOIN transactions_idempotencykey k ON k.id = t.idempotency_id
"""
SNAPSHOT_CLAIMS = """
    SELECT k.initiator_id, k.key, count(t.id) FROM transactions_idempotencykey k
    LEFT JOIN transactions_transaction t ON t.idempotency_id = k.id
    GROUP BY k.id, k.initiator_id, k.key
"""


@dataclass
class Check:
    name: str
    problems: list[str]
    detail: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def shown(problems: list[str], limit: int = 5) -> str:
    more = f" (+{len(problems) - limit} more)" if len(problems) > limit else ""
    return "; ".join(problems[:limit]) + more


def ledger_check(world: World, transfers: list[Transfer]) -> list[Check]:
    from django.db import connection, transaction

    from transactions.audit import ledger_verify

    with transaction.atomic(), connection.cursor() as cursor:
        # One snapshot for every query below and for ledger_verify(), which reads the caller's.
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor.execute(SNAPSHOT_ACCOUNTS)
        accounts = {str(row[0]): row for row in cursor.fetchall()}
        cursor.execute(SNAPSHOT_TRANSACTIONS)
        stored = defaultdict(list)
        for initiator, key, *rest in cursor.fetchall():
            stored[(str(initiator), key)].append([str(value) if i < 5 else value for i, value in enumerate(rest)])
        cursor.execute(SNAPSHOT_CLAIMS)
        claims = cursor.fetchall()
        audit = ledger_verify()
    connection.close()

    checks = []
    client_accounts = set(world.accounts)
    balances = {account_id: row[4] for account_id, row in accounts.items()}

    # (a) conservation
    problems = []
    customer_total = sum(row[4] for row in accounts.values() if not row[2])
    if customer_total != world.total_funded:
        problems.append(f"non-system balances total {money(customer_total)}, funded {money(world.total_funded)}")
    per_currency = Counter()
    for row in accounts.values():
        per_currency[row[3]] += row[4]
    problems += [f"{currency} balances sum to {money(total)}, not 0" for currency, total in per_currency.items() if total]
    checks.append(Check("(a) total conserved", problems, f"non-system {money(customer_total)} = funded {money(world.total_funded)}; every currency sums to 0"))

    # (b) no overdraft
    negative = [f"{account_id} at {money(row[4])}" for account_id, row in accounts.items() if not row[2] and row[4] < 0]
    checks.append(Check("(b) no negative non-system balance", negative, f"{sum(not row[2] for row in accounts.values())} accounts"))

    # (c) every acknowledgement is in the ledger, once, as acknowledged
    problems = []
    acknowledged = [t for t in transfers if t.outcome == "ok"]
    for t in acknowledged:
        rows = stored.get((t.user_id, t.key), [])
        if len(rows) != 1:
            problems.append(f"{t.key}: acknowledged, {len(rows)} transactions stored")
            continue
        txn_id, kind, status, source, target, amount = rows[0]
        if (txn_id, kind, source, target, amount) != (t.transaction_id, "TRANSFER", t.source, t.target, t.amount) or status not in (
            "COMPLETED",
            "REVERSED",
        ):
            problems.append(f"{t.key}: acknowledged {t.transaction_id}, stored {rows[0]}")
    checks.append(Check("(c) every acknowledged transfer present exactly once", problems, f"{len(acknowledged)} acknowledged"))

    # (d) one outcome per key; every unknown resolved to zero or one transaction; nothing unasked
    problems = [f"key {key} of {user}: {count} transactions" for user, key, count in claims if count > 1]
    problems += [f"key {key} of {user}: claimed with no transaction" for user, key, count in claims if count == 0]
    expected_rows = {"completed": ("COMPLETED", "REVERSED"), "declined": ("FAILED",), "rejected": ()}
    for t in transfers:
        if t.outcome == "ok":
            continue  # (c)
        rows = stored.get((t.user_id, t.key), [])
        if t.final == "unknown":
            problems.append(f"{t.key}: unknown outcome never resolved ({len(rows)} transactions stored)")
        elif len(rows) != (1 if expected_rows[t.final] else 0) or (rows and rows[0][2] not in expected_rows[t.final]):
            problems.append(f"{t.key}: {t.final} ({t.resolution or t.status}), stored {rows}")
    sent = {(t.user_id, t.key) for t in transfers} | {(world.system_user_id, key) for key in world.funding_keys}
    problems += [f"transaction {rows[0][0]} under key {key} that no client sent" for (user, key), rows in stored.items() if (user, key) not in sent]
    unknowns = sum(t.outcome == "unknown" for t in transfers)
    checks.append(Check("(d) every key at most one transaction, every unknown resolved to 0 or 1", problems, f"{len(stored)} keys stored, {unknowns} unknowns"))

    # (e) the ledger's own audit: balances equal entries and the newest balance_after, and the rest
    problems = [f"{name}: {shown(ids, 3)}" for name, ids in audit.violations.items()]
    checks.append(Check("(e) stored balances equal their entries (ledger_verify)", problems, f"{audit.transactions} transactions, {audit.entries} entries"))

    # (f) the clients' history of definite outcomes predicts every balance
    expected = {account: world.funding for account in client_accounts}
    for t in transfers:
        if t.final == "completed":
            expected[t.source] -= t.amount
            expected[t.target] += t.amount
    problems = [f"{account}: stored {money(balances.get(account, 0))}, history says {money(value)}" for account, value in expected.items() if balances.get(account) != value]
    if balances.get(world.system_account_id) != -world.total_funded:
        problems.append(f"funding account: stored {money(balances.get(world.system_account_id, 0))}, history says {money(-world.total_funded)}")
    if any(t.final == "unknown" for t in transfers):
        problems.append("not checkable while an unknown is unresolved")
    checks.append(Check("(f) every balance equals the clients' history", problems, f"{len(expected) + 1} accounts"))
    return checks


# --- report -----------------------------------------------------------------------------------


def report(args, logs: list[ClientLog], elapsed: float, nemesis: Nemesis | None, checks: list[Check], unexpected: list[str]) -> bool:
    transfers = [t for log in logs for t in log.transfers]
    reads = sum((log.reads for log in logs), Counter())
    read_latencies = sorted(latency for log in logs for latency in log.read_latencies)
    transfer_latencies = sorted(t.latency for t in transfers)
    all_latencies = sorted(transfer_latencies + read_latencies)
    outcomes = Counter(t.outcome for t in transfers)
    requests = Counter(outcomes) + reads
    total = sum(requests.values())
    failed_by = Counter(f"{t.status} {t.code}" for t in transfers if t.outcome == "failed")
    unknown_by = Counter(f"{t.status} {t.code}" if t.status else t.code for t in transfers if t.outcome == "unknown")
    resolutions = Counter(t.resolution for t in transfers if t.outcome == "unknown")
    read_anomalies = [anomaly for log in logs for anomaly in log.read_anomalies]
    non_json = sum(log.non_json_errors for log in logs)

    def ms(values, fraction):
        return f"{percentile(values, fraction) * 1000:.1f} ms"

    print(f"requests    {total}: ok {requests['ok']}, failed {requests['failed']}, unknown {requests['unknown']}; "
          f"{total / elapsed:.1f} req/s over {elapsed:.1f} s")
    print(f"latency     all p50 {ms(all_latencies, 0.5)}, p99 {ms(all_latencies, 0.99)}; "
          f"transfers p50 {ms(transfer_latencies, 0.5)}, p99 {ms(transfer_latencies, 0.99)}; "
          f"reads p50 {ms(read_latencies, 0.5)}, p99 {ms(read_latencies, 0.99)}")
    print(f"transfers   {len(transfers)}: ok {outcomes['ok']}, failed {outcomes['failed']}, unknown {outcomes['unknown']}")
    if failed_by:
        print("  failed    " + ", ".join(f"{reason}: {count}" for reason, count in failed_by.most_common()))
    if unknown_by:
        print("  unknown   " + ", ".join(f"{reason}: {count}" for reason, count in unknown_by.most_common()))
        print("  resolved  " + ", ".join(f"{reason}: {count}" for reason, count in resolutions.most_common()))
    print(f"reads       {sum(reads.values())}: ok {reads['ok']}, failed {reads['failed']}, unknown {reads['unknown']}; "
          f"malformed or foreign {len(read_anomalies)}")
    if nemesis is not None:
        print(f"nemesis     {nemesis.kills} backends terminated ({nemesis.busy_kills} busy when chosen), every {args.nemesis_interval:g} s"
              + (f"; stopped early: {nemesis.error}" if nemesis.error else ""))
    if non_json:
        print(f"note        {non_json} error responses were not JSON (API.md: errors are always JSON)")
    print("checks")
    for check in checks:
        print(f"  [{'ok' if check.ok else 'FAIL'}] {check.name}: {check.detail if check.ok else shown(check.problems)}")

    reasons = [check.name for check in checks if not check.ok]
    if read_anomalies:
        print(f"  [FAIL] reads: {shown(read_anomalies)}")
        reasons.append(f"{len(read_anomalies)} malformed reads")
    if unexpected:
        print(f"  [FAIL] unexpected answers to valid requests: {shown(unexpected)}")
        reasons.append(f"{len(unexpected)} unexpected answers")
    if nemesis is not None and nemesis.error:
        reasons.append("nemesis failed")
    if not transfers:
        reasons.append("no transfers were made")
    print("bank check: PASS" if not reasons else f"bank check: FAIL ({'; '.join(reasons)})")
    return not reasons


# --- main -------------------------------------------------------------------------------------


def amount_minor(text: str) -> int:
    value = text.split(".")
    if len(value) > 2 or not all(part.isdigit() for part in value) or (len(value) == 2 and len(value[1]) > 2):
        raise argparse.ArgumentTypeError(f"{text!r}: an INR amount like 1000 or 1000.00")
    return int(value[0]) * 100 + (int(value[1].ljust(2, "0")) if len(value) == 2 else 0)


def redis_pair(text: str) -> tuple[int, int]:
    parts = text.split(",")
    if len(parts) != 2 or not all(part.strip().isdigit() for part in parts) or parts[0].strip() == parts[1].strip():
        raise argparse.ArgumentTypeError(f"{text!r}: two different Redis database numbers, like 6,7")
    return int(parts[0]), int(parts[1])


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60, help="length of the load (default 60)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients, one user and connection each (default 32)")
    parser.add_argument("--read-ratio", type=float, default=0.2, help="share of requests that are balance reads (default 0.2)")
    parser.add_argument("--funding", type=amount_minor, default="1000.00", help="initial funds per account, INR (default 1000.00)")
    parser.add_argument("--max-amount", type=amount_minor, default="200.00", help="largest random transfer, INR (default 200.00)")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-request timeout in seconds; longer is unknown (default 5)")
    parser.add_argument("--nemesis", action="store_true", help="terminate a random web backend of the scratch database now and then")
    parser.add_argument("--nemesis-interval", type=float, default=3.0, help="seconds between kills (default 3)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2")), help="gunicorn workers (default $WEB_WORKERS or 2)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", "4")), help="gunicorn threads per worker (default $WEB_THREADS or 4)")
    parser.add_argument("--database", default="ledger_bankcheck", help="scratch database, dropped and recreated (default ledger_bankcheck)")
    parser.add_argument("--redis-port", type=int, default=None,
                        help="use the Redis already on 127.0.0.1:PORT, flushing its --redis-dbs (default: start a redis-server of its own on a free port)")
    parser.add_argument("--redis-dbs", type=redis_pair, default="6,7", help="Redis databases for the cache and the broker, flushed (default 6,7)")
    parser.add_argument("--wsgi-app", default="ledger_project.wsgi", help="gunicorn app; another only to see the check fail on a broken variant")
    parser.add_argument("--seed", default=None, help="random seed for the clients' choices (default: random, printed)")
    args = parser.parse_args(argv)
    if args.redis_port is not None and not 0 < args.redis_port < 65536:
        parser.error("--redis-port must be a TCP port, 1..65535")
    if args.clients < 1 or args.seconds <= 0 or not 0 <= args.read_ratio < 1 or args.funding < 1 or args.max_amount < 1:
        parser.error("need --clients >= 1, --seconds > 0, 0 <= --read-ratio < 1 and positive amounts")
    args.seed = args.seed or secrets.token_hex(4)
    return args


def main(argv) -> int:
    args = parse_args(argv)
    cache_db, broker_db = args.redis_dbs
    # Tokens must outlive the run; the web only checks their expiry.
    token_minutes = max(15, int(args.seconds // 60) + 15)
    try:
        with contextlib.ExitStack() as resources:
            redis_port = args.redis_port or own_redis_port(resources)
            stack = Stack(
                database=args.database,
                workers=args.workers,
                threads=args.threads,
                redis_url=f"redis://127.0.0.1:{redis_port}/0",
                cache_db=cache_db,
                broker_db=broker_db,
                wsgi_app=args.wsgi_app,
                extra_env={"ACCESS_TOKEN_LIFETIME_MINUTES": str(token_minutes)},
            )
            with stack:
                return 0 if bank_check(stack, args) else 1
    except StackError as exc:
        print(f"bank check: ERROR ({exc})")
        return 2


def own_redis_port(resources: contextlib.ExitStack) -> int:
    """A redis-server of the check's own, stopped when `resources` closes: the stack flushes its
    databases, which must never be a Redis somebody else uses."""
    port = free_port()
    try:
        resources.enter_context(redis_server(port))
    except FileNotFoundError as exc:
        raise StackError("redis-server is not installed; install it, or pass --redis-port of a Redis to use") from exc
    except AssertionError as exc:  # it never answered
        raise StackError(f"redis-server on port {port}: {exc}") from exc
    return port


def bank_check(stack: Stack, args) -> bool:
    print(f"stack       {stack.url}: database {stack.database}, gunicorn {args.workers} workers x {args.threads} threads, "
          f"Redis cache {stack.cache_url}, broker {stack.broker_url}; log {stack.log_path}")
    print("            no Celery worker is started: emails stay in the outbox, their tasks in the broker database")
    os.environ.update(stack.env)
    os.environ["PGAPPNAME"] = CHECKER_APPLICATION_NAME
    import django

    django.setup()
    started = time.monotonic()
    world = world_create(stack, clients=args.clients, funding=args.funding, timeout=args.timeout)
    print(f"setup       {args.clients} clients x 2 {CURRENCY} accounts, {money(args.funding)} each through initial-funds: "
          f"funded {money(world.total_funded)} ({time.monotonic() - started:.1f} s)")
    print(f"load        {args.seconds:g} s, {args.clients} clients, {1 - args.read_ratio:.0%} transfers (up to {money(args.max_amount)}) / "
          f"{args.read_ratio:.0%} reads, timeout {args.timeout:g} s, nemesis {'on' if args.nemesis else 'off'}, seed {args.seed}", flush=True)

    logs = [ClientLog() for _ in world.customers]
    stop = threading.Event()
    nemesis = Nemesis(stack, args.nemesis_interval, f"{args.seed}-nemesis") if args.nemesis else None
    start = time.monotonic()
    deadline = start + args.seconds
    threads = [
        threading.Thread(target=client_run, args=(customer, world, args, deadline, stop, log), daemon=True)
        for customer, log in zip(world.customers, logs)
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
    checks = ledger_check(world, transfers)
    return report(args, logs, elapsed, nemesis, checks, unexpected)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
