"""The bank check's verdict: every invariant checked on one database snapshot, and the report."""

import json
from collections import Counter, defaultdict
from dataclasses import dataclass

from accounts.money import format_minor
from bench.load import percentile

from .client import CURRENCY, ClientLog, Transfer, World
from .nemesis import Nemesis


def money(minor: int) -> str:
    return format_minor(minor, CURRENCY)


SNAPSHOT_ACCOUNTS = "SELECT id, owner_id, is_system, currency, balance FROM accounts_account"
# A batch's items answer to their batch's key: each is filed under "<key>#<index>", its index
# read from the batch's stored answer (SNAPSHOT_BATCHES), as the clients file them.
SNAPSHOT_TRANSACTIONS = """
    SELECT k.initiator_id, k.key, t.id, t.kind, t.status, t.from_account_id, t.to_account_id, t.amount, t.batch_id
    FROM transactions_transaction t
    LEFT JOIN transactions_batch b ON b.id = t.batch_id
    JOIN transactions_idempotencykey k ON k.id = COALESCE(t.idempotency_id, b.idempotency_id)
"""
SNAPSHOT_BATCHES = "SELECT response FROM transactions_batch"
# A key's outcome is a transaction, a hold (created), a hold's void or a batch.
SNAPSHOT_CLAIMS = """
    SELECT k.initiator_id, k.key,
           (SELECT count(*) FROM transactions_transaction t WHERE t.idempotency_id = k.id)
           + (SELECT count(*) FROM transactions_hold h WHERE h.idempotency_id = k.id OR h.void_idempotency_id = k.id)
           + (SELECT count(*) FROM transactions_batch b WHERE b.idempotency_id = k.id)
    FROM transactions_idempotencykey k
"""


def batch_item_indexes(responses) -> dict:
    """Each batch item's transaction id -> its index in its batch, from the batches' answers."""
    indexes = {}
    for response in responses:
        # Django's psycopg connection hands jsonb over as its text (JSONField parses it).
        shown = json.loads(response).get("batch") or {}
        for index, txn in enumerate(shown.get("transactions") or []):
            indexes[txn["id"]] = index
        for result in shown.get("results") or []:
            txn = result.get("transaction") or (result.get("error") or {}).get("transaction") or {}
            indexes[txn.get("id")] = result["index"]
    return indexes


# Accounts whose `held` is not the sum of their PENDING holds.
SNAPSHOT_HELD = """
    SELECT a.id, a.held, COALESCE(SUM(h.amount), 0) FROM accounts_account a
    LEFT JOIN transactions_hold h ON h.from_account_id = a.id AND h.status = 'PENDING'
    GROUP BY a.id, a.held HAVING a.held <> COALESCE(SUM(h.amount), 0)
"""
# Holds with more than one capture, or CAPTURED with none (the unique link forbids the first).
SNAPSHOT_CAPTURES = """
    SELECT h.id, h.status, count(t.id) FROM transactions_hold h
    LEFT JOIN transactions_transaction t ON t.hold_id = h.id
    GROUP BY h.id, h.status HAVING count(t.id) > 1 OR (h.status = 'CAPTURED') <> (count(t.id) = 1)
"""
SNAPSHOT_HOLDS = "SELECT status, count(*) FROM transactions_hold GROUP BY status"


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
        cursor.execute(SNAPSHOT_BATCHES)
        item_indexes = batch_item_indexes(row[0] for row in cursor.fetchall())
        cursor.execute(SNAPSHOT_TRANSACTIONS)
        stored = defaultdict(list)
        for initiator, key, *rest, batch_id in cursor.fetchall():
            if batch_id is not None:
                key = f"{key}#{item_indexes.get(str(rest[0]), '?')}"
            stored[(str(initiator), key)].append([str(value) if i < 5 else value for i, value in enumerate(rest)])
        cursor.execute(SNAPSHOT_CLAIMS)
        claims = cursor.fetchall()
        cursor.execute(SNAPSHOT_HELD)
        held_wrong = cursor.fetchall()
        cursor.execute(SNAPSHOT_CAPTURES)
        captured_wrong = cursor.fetchall()
        cursor.execute(SNAPSHOT_HOLDS)
        holds_by_status = dict(cursor.fetchall())
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
    problems += [
        f"{currency} balances sum to {money(total)}, not 0" for currency, total in per_currency.items() if total
    ]
    checks.append(
        Check(
            "(a) total conserved",
            problems,
            f"non-system {money(customer_total)} = funded {money(world.total_funded)}; every currency sums to 0",
        )
    )

    # (b) no overdraft
    negative = [f"{account_id} at {money(row[4])}" for account_id, row in accounts.items() if not row[2] and row[4] < 0]
    checks.append(
        Check(
            "(b) no negative non-system balance", negative, f"{sum(not row[2] for row in accounts.values())} accounts"
        )
    )

    # (c) every acknowledgement is in the ledger, once, as acknowledged
    problems = []
    acknowledged = [t for t in transfers if t.outcome == "ok"]
    for t in acknowledged:
        rows = stored.get((t.user_id, t.key), [])
        if len(rows) != 1:
            problems.append(f"{t.key}: acknowledged, {len(rows)} transactions stored")
            continue
        txn_id, kind, status, source, target, amount = rows[0]
        if (txn_id, kind, source, target, amount) != (
            t.transaction_id,
            "TRANSFER",
            t.source,
            t.target,
            t.amount,
        ) or status not in (
            "COMPLETED",
            "REVERSED",
        ):
            problems.append(f"{t.key}: acknowledged {t.transaction_id}, stored {rows[0]}")
    checks.append(
        Check("(c) every acknowledged transfer present exactly once", problems, f"{len(acknowledged)} acknowledged")
    )

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
    problems += [
        f"transaction {rows[0][0]} under key {key} that no client sent"
        for (user, key), rows in stored.items()
        if (user, key) not in sent
    ]
    unknowns = sum(t.outcome == "unknown" for t in transfers)
    checks.append(
        Check(
            "(d) every key at most one transaction, every unknown resolved to 0 or 1",
            problems,
            f"{len(stored)} keys stored, {unknowns} unknowns",
        )
    )

    # (e) the ledger's own audit: balances equal entries and the newest balance_after, and the rest
    problems = [f"{name}: {shown(ids, 3)}" for name, ids in audit.violations.items()]
    checks.append(
        Check(
            "(e) stored balances equal their entries (ledger_verify)",
            problems,
            f"{audit.transactions} transactions, {audit.entries} entries",
        )
    )

    # (f) the clients' history of definite outcomes predicts every balance
    expected = {account: world.funding for account in client_accounts}
    for t in transfers:
        if t.final == "completed":
            expected[t.source] -= t.amount
            expected[t.target] += t.amount
    problems = [
        f"{account}: stored {money(balances.get(account, 0))}, history says {money(value)}"
        for account, value in expected.items()
        if balances.get(account) != value
    ]
    if balances.get(world.system_account_id) != -world.total_funded:
        problems.append(
            f"funding account: stored {money(balances.get(world.system_account_id, 0))}, history says {money(-world.total_funded)}"
        )
    if any(t.final == "unknown" for t in transfers):
        problems.append("not checkable while an unknown is unresolved")
    checks.append(Check("(f) every balance equals the clients' history", problems, f"{len(expected) + 1} accounts"))

    # (g) held equals the open holds, on every account
    problems = [
        f"{account}: held {money(held)}, PENDING holds {money(pending)}" for account, held, pending in held_wrong
    ]
    shown_holds = ", ".join(f"{status} {count}" for status, count in sorted(holds_by_status.items())) or "none"
    checks.append(Check("(g) held equals the open holds", problems, f"holds: {shown_holds}"))

    # (h) no hold captured twice: in the database, and in what the clients were told
    problems = [f"hold {hold_id} ({status}): {count} captures" for hold_id, status, count in captured_wrong]
    told = Counter(t.hold_id for t in transfers if t.hold_id and t.final == "completed")
    problems += [f"hold {hold_id}: {count} captures acknowledged" for hold_id, count in told.items() if count > 1]
    checks.append(Check("(h) no hold captured twice", problems, f"{sum(told.values())} captures acknowledged"))
    return checks


# --- report -----------------------------------------------------------------------------------


def report(
    args, logs: list[ClientLog], elapsed: float, nemesis: Nemesis | None, checks: list[Check], unexpected: list[str]
) -> bool:
    transfers = [t for log in logs for t in log.transfers]
    batches = {t.batch_key: t for t in transfers if t.batch_key}  # one line per batch request
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

    print(
        f"requests    {total}: ok {requests['ok']}, failed {requests['failed']}, unknown {requests['unknown']}; "
        f"{total / elapsed:.1f} req/s over {elapsed:.1f} s"
    )
    print(
        f"latency     all p50 {ms(all_latencies, 0.5)}, p99 {ms(all_latencies, 0.99)}; "
        f"transfers p50 {ms(transfer_latencies, 0.5)}, p99 {ms(transfer_latencies, 0.99)}; "
        f"reads p50 {ms(read_latencies, 0.5)}, p99 {ms(read_latencies, 0.99)}"
    )
    print(
        f"transfers   {len(transfers)}: ok {outcomes['ok']}, failed {outcomes['failed']}, unknown {outcomes['unknown']}"
    )
    ops = Counter(f"{op.action} {op.status} {op.code}".strip() for log in logs for op in log.hold_ops)
    captures = Counter(f"{t.status} {t.code}".strip() for t in transfers if t.hold_id)
    if ops or captures:
        print("  holds     " + ", ".join(f"{what}: {count}" for what, count in sorted(ops.items())))
        print("  captures  " + ", ".join(f"{what}: {count}" for what, count in sorted(captures.items())))
    if batches:
        answers = Counter(t.batch_answer for t in batches.values())
        items = sum(bool(t.batch_key) for t in transfers)
        print(
            f"  batches   {len(batches)} requests ({items} of the transfers above): "
            + ", ".join(f"{what}: {count}" for what, count in sorted(answers.items()))
        )
    if failed_by:
        print("  failed    " + ", ".join(f"{reason}: {count}" for reason, count in failed_by.most_common()))
    if unknown_by:
        print("  unknown   " + ", ".join(f"{reason}: {count}" for reason, count in unknown_by.most_common()))
        print("  resolved  " + ", ".join(f"{reason}: {count}" for reason, count in resolutions.most_common()))
    print(
        f"reads       {sum(reads.values())}: ok {reads['ok']}, failed {reads['failed']}, unknown {reads['unknown']}; "
        f"malformed or foreign {len(read_anomalies)}"
    )
    if nemesis is not None:
        print(
            f"nemesis     {nemesis.kills} backends terminated ({nemesis.busy_kills} busy when chosen), every {args.nemesis_interval:g} s"
            + (f"; stopped early: {nemesis.error}" if nemesis.error else "")
        )
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
