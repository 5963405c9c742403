"""The bank check's clients: one persistent HTTP connection each, the world they share (users,
accounts, tokens, funding), the load they send and the resolution of every unknown outcome."""

import http.client
import json
import random
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from accounts.money import format_minor

CURRENCY = "INR"
BALANCE_TEXT = re.compile(r"\A(0|[1-9][0-9]*)\.[0-9]{2}\Z")  # INR: exactly two places, no sign
# 422 codes that store a FAILED transaction (the key is spent); any other 422 stores nothing.
DECLINE_CODES = {"insufficient_funds", "account_inactive", "limit_exceeded"}
# What a transfer between active client accounts may be declined with: funds, or a limit that
# `--limits` set (never returned without it).
TRANSFER_DECLINE_CODES = {"insufficient_funds", "limit_exceeded"}
TRANSFER_PATH = "/api/transactions"
HOLDS_PATH = "/api/holds"
# A hold's expiresIn: some expire within the run (the stack lowers HOLD_MIN_EXPIRES_IN_SECONDS to
# 1 for it), some outlive it; a capture or void after expiry is a 409 hold_not_pending.
HOLD_EXPIRIES = (1, 3, 3600)
FUNDING_PATH = "/api/transactions/system/initial-funds"
BATCH_PATH = "/api/transactions/batch"
BATCH_SIZES = (2, 8)  # transfers per batch request, at least and at most


class SetupError(RuntimeError):
    """The world could not be set up: the check cannot run."""


def money_text(minor: int) -> str:
    """Wire form of an INR amount: "12.30"."""
    return format_minor(minor, CURRENCY)


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


def world_create(port: int, *, clients: int, funding: int, timeout: float) -> World:
    """Users, accounts and tokens through the services; funding through the HTTP API."""
    from django.db import connections

    from accounts.models import Account
    from accounts.services import account_open
    from authn.services import system_user_ensure, tokens_issue, user_create

    system, _, _ = system_user_ensure(email="bank-check-system@example.com", name="Bank Check System")
    system_account = Account.objects.get(owner=system, currency=CURRENCY, is_system=True)
    system_token, _ = tokens_issue(user=system)
    customers = []
    for index in range(clients):
        user = user_create(
            email=f"bank-check-client-{index}@example.com",
            name=f"Bank Check Client {index}",
            password=secrets.token_urlsafe(16),
        )
        accounts = [str(account_open(owner=user, currency=CURRENCY).id) for _ in range(2)]
        customers.append(Customer(index, str(user.id), tokens_issue(user=user)[0], accounts))
    # The load must not find the checker holding a connection (nor the nemesis kill it).
    connections.close_all()

    world = World("127.0.0.1", port, str(system.id), str(system_account.id), customers, funding)
    conn = Connection(world.host, world.port, timeout)
    for account in world.accounts:
        key = f"bank-check-fund-{account}"
        body = json.dumps({"toAccount": account, "amount": money_text(funding), "idempotencyKey": key})
        reply = call_until_definite(conn, FUNDING_PATH, token=system_token, body=body, deadline=time.monotonic() + 60)
        if reply is None or reply.status not in (200, 201):
            raise SetupError(f"funding {account} failed: {reply and reply.status} {reply and reply.body[:200]!r}")
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
    # A hold's capture is a transfer too (the capture's path, its key, the hold's terms); the
    # checks treat it as one: it moves money exactly once or not at all.
    path: str = TRANSFER_PATH
    hold_id: str = ""
    # A batch's item: `key` is "<batch key>#<index>", the request's key is `batch_key`, and the
    # body is the whole batch's (one request, one retry, for all its items).
    batch_key: str = ""
    index: int = 0
    batch_answer: str = ""  # the batch request's own status and code, as the load saw it


@dataclass
class HoldOp:
    """A hold created or voided: no money moves, only `held`; the checks read the database."""

    action: str  # create | void
    key: str
    status: int | None
    code: str
    hold_id: str = ""


@dataclass
class ClientLog:
    transfers: list[Transfer] = field(default_factory=list)
    reads: Counter = field(default_factory=Counter)  # outcome -> count
    read_latencies: list[float] = field(default_factory=list)
    read_anomalies: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # definite answers no valid request should get
    non_json_errors: int = 0
    hold_ops: list[HoldOp] = field(default_factory=list)
    open_holds: list[tuple[str, str, str, int]] = field(default_factory=list)  # (id, source, target, amount)


def acknowledgement_problem(transfer: Transfer, txn: dict) -> str:
    """What is wrong with an acknowledged transaction, compared with what was asked; "" if nothing."""
    expected = {
        "fromAccount": transfer.source,
        "toAccount": transfer.target,
        "amount": money_text(transfer.amount),
        # A batch's items carry no key of their own: the batch has it.
        "idempotencyKey": None if transfer.batch_key else transfer.key,
    }
    wrong = {name: txn.get(name) for name, value in expected.items() if txn.get(name) != value}
    if txn.get("status") not in ("COMPLETED", "REVERSED"):
        wrong["status"] = txn.get("status")
    return f"{transfer.key}: acknowledged transaction differs from the request: {wrong}" if wrong else ""


def transfer_send(
    conn: Connection, rng: random.Random, me: Customer, world: World, seq: int, max_amount: int, log: ClientLog
):
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
    transfer = Transfer(
        me.index, me.user_id, key, body, source, target, amount, reply.status, reply.code, outcome, reply.latency
    )
    if reply.status is not None and reply.status >= 400 and not reply.json():
        log.non_json_errors += 1
    if reply.status == 201:
        transfer.transaction_id = str((reply.json().get("transaction") or {}).get("id", ""))
        problem = acknowledgement_problem(transfer, reply.json().get("transaction") or {})
        if problem:
            log.unexpected.append(problem)
    elif (
        outcome == "ok"
        or (outcome == "failed" and reply.status not in (422, 429))
        or (reply.status == 422 and reply.code not in TRANSFER_DECLINE_CODES)
    ):
        # A fresh key cannot replay (200), and a valid body is never a 400/401/403/404/409.
        log.unexpected.append(f"{key}: {reply.status} {reply.code}")
    log.transfers.append(transfer)


def batch_send(
    conn: Connection, rng: random.Random, me: Customer, world: World, seq: int, max_amount: int, log: ClientLog
):
    """A batch of transfers from this client's accounts to any client's, atomic or not (half
    each); every item is a Transfer of its own, settled by the batch's answer."""
    atomic = rng.random() < 0.5
    key = f"batch-{me.index}-{seq}-{uuid.uuid4().hex[:12]}"
    items = []
    for _ in range(rng.randint(*BATCH_SIZES)):
        source = rng.choice(me.accounts)
        target = rng.choice([account for account in world.accounts if account != source])
        items.append((source, target, rng.randint(1, max_amount)))
    body = json.dumps(
        {
            "idempotencyKey": key,
            "atomic": atomic,
            "transfers": [
                {"fromAccount": source, "toAccount": target, "amount": money_text(amount), "reference": f"item-{i}"}
                for i, (source, target, amount) in enumerate(items)
            ],
        }
    )
    reply = conn.call("POST", BATCH_PATH, token=me.token, body=body)
    transfers = [
        Transfer(
            me.index,
            me.user_id,
            f"{key}#{index}",
            body,
            source,
            target,
            amount,
            reply.status,
            reply.code,
            outcome_of(reply.status),
            reply.latency,
            path=BATCH_PATH,
            batch_key=key,
            index=index,
        )  # fmt: skip
        for index, (source, target, amount) in enumerate(items)
    ]
    for transfer in transfers:
        transfer.batch_answer = f"{'atomic' if atomic else 'non-atomic'} {reply.status} {reply.code}".strip()
    if reply.status is not None and reply.status >= 400 and not reply.json():
        log.non_json_errors += 1
    if reply.status is not None and reply.status < 500:
        log.unexpected += batch_settle(transfers, reply, atomic=atomic)
    log.transfers += transfers


def batch_settle(items: list[Transfer], reply: Reply, *, atomic: bool) -> list[str]:
    """Each item's outcome and final state from a definite answer to its batch; returns what no
    valid batch should be answered."""
    body, problems = reply.json(), []
    batch = body.get("batch") or {}
    if reply.status == 201 and atomic:
        shown = batch.get("transactions") or []
        if len(shown) != len(items) or batch.get("status") != "COMPLETED":
            return [f"{items[0].batch_key}: 201 with {len(shown)} transactions, status {batch.get('status')}"]
        for item, txn in zip(items, shown, strict=True):
            item.outcome, item.final, item.transaction_id = "ok", "completed", str(txn.get("id", ""))
            problems.append(acknowledgement_problem(item, txn))
    elif reply.status == 200 and not atomic:
        results = batch.get("results") or []
        if len(results) != len(items):
            return [f"{items[0].batch_key}: 200 with {len(results)} results"]
        for item, result in zip(items, results, strict=True):
            if result.get("status") == 201:
                txn = result.get("transaction") or {}
                item.outcome, item.final, item.transaction_id = "ok", "completed", str(txn.get("id", ""))
                item.status, item.code = 201, ""
                problems.append(acknowledgement_problem(item, txn))
            else:
                error = result.get("error") or {}
                item.outcome, item.status, item.code = "failed", 422, str(error.get("code", ""))
                item.final = "declined"
                if item.code not in TRANSFER_DECLINE_CODES:
                    problems.append(f"{item.key}: item answered {result.get('status')} {item.code}")
    elif reply.status == 422 and reply.code == "batch_declined" and atomic:
        declined = (body.get("details") or {}).get("code")
        for item in items:
            item.outcome, item.final = "failed", "rejected"  # an atomic decline stores no item
        if declined not in TRANSFER_DECLINE_CODES:
            problems.append(f"{items[0].batch_key}: batch_declined for {declined}")
    else:
        for item in items:
            item.outcome, item.final = "failed", "rejected"
        if reply.status != 429:
            problems.append(f"{items[0].batch_key}: {reply.status} {reply.code}")
    return [problem for problem in problems if problem]


def hold_send(conn: Connection, rng: random.Random, me: Customer, world: World, max_amount: int, log: ClientLog):
    """Hold an amount for any client account; remember it for a later capture or void."""
    source = rng.choice(me.accounts)
    target = rng.choice([account for account in world.accounts if account != source])
    amount, key = rng.randint(1, max_amount), f"hold-{me.index}-{uuid.uuid4().hex[:12]}"
    body = {"fromAccount": source, "toAccount": target, "amount": money_text(amount), "idempotencyKey": key}
    reply = conn.call(
        "POST", HOLDS_PATH, token=me.token, body=json.dumps({**body, "expiresIn": rng.choice(HOLD_EXPIRIES)})
    )
    hold_id = str((reply.json().get("hold") or {}).get("id", ""))
    log.hold_ops.append(HoldOp("create", key, reply.status, reply.code, hold_id))
    if reply.status == 201:
        log.open_holds.append((hold_id, source, target, amount))
    elif reply.status is not None and not (reply.status == 422 and reply.code in DECLINE_CODES) and reply.status < 500:
        log.unexpected.append(f"{key}: {reply.status} {reply.code}")


def hold_settle(conn: Connection, rng: random.Random, me: Customer, log: ClientLog):
    """Capture (whole) or void one of this client's holds; a 409 hold_not_pending is expected
    for one that expired meanwhile."""
    hold_id, source, target, amount = log.open_holds.pop(rng.randrange(len(log.open_holds)))
    key = f"settle-{me.index}-{uuid.uuid4().hex[:12]}"
    body = json.dumps({"idempotencyKey": key})
    if rng.random() < 0.3:
        reply = conn.call("POST", f"{HOLDS_PATH}/{hold_id}/void", token=me.token, body=body)
        log.hold_ops.append(HoldOp("void", key, reply.status, reply.code, hold_id))
        if reply.status is not None and reply.status not in (200, 409) and reply.status < 500:
            log.unexpected.append(f"{key}: void {reply.status} {reply.code}")
        return
    path = f"{HOLDS_PATH}/{hold_id}/capture"
    reply = conn.call("POST", path, token=me.token, body=body)
    capture = Transfer(
        me.index, me.user_id, key, body, source, target, amount, reply.status, reply.code,
        outcome_of(reply.status), reply.latency, path=path, hold_id=hold_id,
    )  # fmt: skip
    if reply.status == 201:
        capture.transaction_id = str((reply.json().get("transaction") or {}).get("id", ""))
        problem = acknowledgement_problem(capture, reply.json().get("transaction") or {})
        if problem:
            log.unexpected.append(problem)
    elif reply.status is not None and reply.status < 500 and reply.status != 409:
        log.unexpected.append(f"{key}: capture {reply.status} {reply.code}")
    log.transfers.append(capture)


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
            choice = rng.random()
            if choice < args.read_ratio:
                balances_read(conn, me, log)
            elif choice < args.read_ratio + args.hold_ratio:
                if log.open_holds and rng.random() < 0.5:
                    hold_settle(conn, rng, me, log)
                else:
                    hold_send(conn, rng, me, world, args.max_amount, log)
            elif choice < args.read_ratio + args.hold_ratio + args.batch_ratio:
                seq += 1
                batch_send(conn, rng, me, world, seq, args.max_amount, log)
            else:
                seq += 1
                transfer_send(conn, rng, me, world, seq, args.max_amount, log)
    except Exception as exc:  # a bug of the checker's own must fail the run, not end one client quietly
        log.unexpected.append(f"client {me.index} crashed: {exc!r}")
    finally:
        conn.close()


# --- resolution -----------------------------------------------------------------------------


def finals_assign(logs: list[ClientLog], world: World, timeout: float, budget: float) -> list[str]:
    """Give every transfer its final state; send each unknown again with its key and body until
    the answer is definite. Returns the unexpected answers met on the way."""
    unexpected = []
    tokens = {customer.user_id: customer.token for customer in world.customers}
    conn = Connection(world.host, world.port, timeout)
    deadline = time.monotonic() + budget
    batches = {}  # a batch's key -> its items: resolved with one request for all of them
    for log in logs:
        for t in log.transfers:
            if t.batch_key:
                batches.setdefault(t.batch_key, []).append(t)
                continue
            if t.outcome == "ok":
                t.final = "completed"
            elif t.outcome == "failed":
                t.final = "declined" if t.status == 422 and t.code in DECLINE_CODES else "rejected"
            else:
                reply = call_until_definite(conn, t.path, token=tokens[t.user_id], body=t.body, deadline=deadline)
                if reply is None:
                    t.final, t.resolution = "unknown", "unresolved"
                elif reply.status in (200, 201):
                    t.final = "completed"
                    t.resolution = (
                        "had committed" if reply.status == 200 else "had not committed (applied by the retry)"
                    )
                    t.transaction_id = str((reply.json().get("transaction") or {}).get("id", ""))
                    problem = acknowledgement_problem(t, reply.json().get("transaction") or {})
                    if problem:
                        unexpected.append(problem)
                elif t.hold_id and reply.status == 409:
                    # The first attempt had not committed, and the hold has expired since.
                    t.final, t.resolution = "rejected", "had not committed (hold no longer pending)"
                elif reply.status == 422 and reply.code in DECLINE_CODES:
                    t.final = "declined"
                    t.resolution = "had been declined" if reply.replayed else "had not committed (declined on retry)"
                else:
                    t.final, t.resolution = "rejected", f"rejected on retry ({reply.status} {reply.code})"
                    unexpected.append(f"{t.key}: retry answered {reply.status} {reply.code}")
    for items in batches.values():
        if items[0].outcome != "unknown":
            continue  # settled by its answer (batch_send)
        first = items[0]
        reply = call_until_definite(conn, BATCH_PATH, token=tokens[first.user_id], body=first.body, deadline=deadline)
        if reply is None:
            for item in items:
                item.final, item.resolution = "unknown", "unresolved"
            continue
        seen = [(item.status, item.code) for item in items]
        unexpected += batch_settle(items, reply, atomic=json.loads(first.body)["atomic"])
        for item, (status, code) in zip(items, seen, strict=True):
            # What the load saw stays on the item; `final` is what it turned out to be.
            item.outcome, item.status, item.code = "unknown", status, code
            if reply.replayed:
                item.resolution = "had committed"
            elif item.final == "completed":
                item.resolution = "had not committed (applied by the retry)"
            else:
                item.resolution = "had not committed (declined on retry)"
    conn.close()
    return unexpected


def limits_apply(world: World, *, per_transfer_max: int, daily_amount: int, daily_count: int) -> int:
    """`--limits`: every other client's first account gets a per-transfer maximum and daily
    amount and count limits, through the service operators use; returns how many accounts."""
    from accounts.services import account_limits_set  # Django is set up by the time this runs

    limited = [customer.accounts[0] for customer in world.customers[::2]]
    for account_id in limited:
        account_limits_set(
            account_id=account_id,
            changes={
                "per_transfer_max": money_text(per_transfer_max),
                "daily_debit_amount": money_text(daily_amount),
                "daily_debit_count": daily_count,
            },
        )
    return len(limited)
