"""verify_ledger: every invariant of DESIGN.md, checked in SQL over one consistent snapshot."""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from events.services import events_retention_start

from .models import LedgerAudit

logger = logging.getLogger(__name__)

# Each event's user, type and the id of its object (read out of its JSON once, as a uuid; NULL if it
# is none): joined on `data ->> 'id'` as text, PostgreSQL sorted the whole events table, JSON and
# all, to disk, and compared uuids as text (the two event checks: 10.6 + 5.2 s on the bench's
# 1,000,000-transfer seed; 6.8 + 5.5 s with this).
EVENT_OBJECTS = """
    SELECT id, user_id, type,
           CASE WHEN data ->> 'id' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                THEN (data ->> 'id')::uuid END AS object_id
    FROM events_event
"""

# Each check: (name, SQL returning the offending ids). An empty result means the invariant holds.
# Run with psycopg parameters (`%(events_since)s`), hence `%%` for a literal percent sign.
CHECKS = [
    (
        "account balance equals its entries (credits - debits)",
        """
        SELECT a.id FROM accounts_account a
        LEFT JOIN transactions_ledgerentry e ON e.account_id = a.id
        GROUP BY a.id, a.balance
        HAVING a.balance <> COALESCE(SUM(CASE WHEN e.type = 'CREDIT' THEN e.amount ELSE -e.amount END), 0)
        """,
    ),
    (
        "account balance equals its newest entry's balance_after",
        """
        SELECT a.id FROM accounts_account a
        JOIN LATERAL (
            SELECT balance_after FROM transactions_ledgerentry e
            WHERE e.account_id = a.id ORDER BY e.id DESC LIMIT 1
        ) newest ON true
        WHERE newest.balance_after <> a.balance
        """,
    ),
    (
        "completed transaction has one DEBIT (from) and one CREDIT (to) of its amount and currency",
        """
        SELECT t.id FROM transactions_transaction t
        LEFT JOIN transactions_ledgerentry d ON d.transaction_id = t.id AND d.type = 'DEBIT'
        LEFT JOIN transactions_ledgerentry c ON c.transaction_id = t.id AND c.type = 'CREDIT'
        LEFT JOIN accounts_account fa ON fa.id = t.from_account_id
        LEFT JOIN accounts_account ta ON ta.id = t.to_account_id
        WHERE t.status IN ('COMPLETED', 'REVERSED')
          AND (d.id IS NULL OR c.id IS NULL
               OR d.amount <> t.amount OR c.amount <> t.amount
               OR d.account_id <> t.from_account_id OR c.account_id <> t.to_account_id
               OR fa.currency <> t.currency OR ta.currency <> t.currency)
        """,
    ),
    (
        # The entries carry no foreign-key constraints (transactions/0011): a missing transaction
        # or account is looked for here too.
        "no entries on failed or pending transactions, nor of a missing transaction or account (no orphan entries)",
        """
        SELECT DISTINCT e.transaction_id FROM transactions_ledgerentry e
        LEFT JOIN transactions_transaction t ON t.id = e.transaction_id
        LEFT JOIN accounts_account a ON a.id = e.account_id
        WHERE t.id IS NULL OR a.id IS NULL OR t.status NOT IN ('COMPLETED', 'REVERSED')
        """,
    ),
    (
        "no customer account below its overdraft floor (balance >= -overdraft_limit)",
        "SELECT id FROM accounts_account WHERE NOT is_system AND balance < -COALESCE(overdraft_limit, 0)",
    ),
    (
        "a REVERSED transaction has exactly one completed reversal, and only REVERSED ones have one",
        """
        SELECT t.id FROM transactions_transaction t
        LEFT JOIN transactions_transaction r ON r.reverses_id = t.id AND r.status = 'COMPLETED'
        GROUP BY t.id, t.status
        HAVING (t.status = 'REVERSED') <> (COUNT(r.id) = 1)
        """,
    ),
    (
        "account held equals its PENDING holds",
        """
        SELECT a.id FROM accounts_account a
        LEFT JOIN transactions_hold h ON h.from_account_id = a.id AND h.status = 'PENDING'
        GROUP BY a.id, a.held
        HAVING a.held <> COALESCE(SUM(h.amount), 0)
        """,
    ),
    (
        "held never negative, and no customer account's available (balance - held) below -overdraft_limit",
        """
        SELECT id FROM accounts_account
        WHERE held < 0 OR (NOT is_system AND balance - held < -COALESCE(overdraft_limit, 0))
        """,
    ),
    (
        "a CAPTURED hold has its capture, of its captured amount, no more than it held; no other hold has one",
        """
        SELECT h.id FROM transactions_hold h
        LEFT JOIN transactions_transaction t ON t.hold_id = h.id
        WHERE (h.status = 'CAPTURED') <> (t.id IS NOT NULL)
           OR t.amount > h.amount OR t.amount <> h.captured_amount
           OR t.from_account_id <> h.from_account_id OR t.to_account_id <> h.to_account_id
           OR t.kind <> 'TRANSFER' OR t.status NOT IN ('COMPLETED', 'REVERSED')
        """,
    ),
    (
        "each usage row equals the transfers (not from a hold) and PENDING or CAPTURED holds it counts in its window",
        """
        -- One join of every usage window with its account's debits, not a subquery per window:
        -- PostgreSQL ran that one through the created_at index over every transaction of the
        -- window's day or month (a minute a check on the bench's 1,000,000 transfers of one day).
        WITH windows AS (
            SELECT u.id, u.account_id, u.amount, u.count, u.starts_on::timestamp AT TIME ZONE 'UTC' AS starts,
                   (u.starts_on + CASE WHEN u."window" = 'DAY' THEN interval '1 day' ELSE interval '1 month' END)
                       ::timestamp AT TIME ZONE 'UTC' AS ends
            FROM accounts_accountusage u
        ), debits AS (
            SELECT from_account_id, amount, created_at FROM transactions_transaction
            WHERE kind = 'TRANSFER' AND hold_id IS NULL AND status IN ('COMPLETED', 'REVERSED')
              AND from_account_id IN (SELECT account_id FROM windows)
            UNION ALL
            SELECT from_account_id, amount, created_at FROM transactions_hold
            WHERE status IN ('PENDING', 'CAPTURED') AND from_account_id IN (SELECT account_id FROM windows)
        )
        SELECT w.id FROM windows w
        LEFT JOIN debits c ON c.from_account_id = w.account_id AND c.created_at >= w.starts AND c.created_at < w.ends
        GROUP BY w.id, w.amount, w.count
        HAVING w.amount <> COALESCE(SUM(c.amount), 0) OR w.count <> COUNT(c.amount)
        """,
    ),
    # Events (events/services.py): written in the change's own transaction, one per user who may
    # see it. Only changes inside the retention window (%(events_since)s, see EVENTS_CHECKED_SINCE)
    # still have theirs: older events were purged. A batch's items are transactions like any other.
    (
        "each completed, failed and reversed transaction, and each written batch (in the event retention window), has its events",
        f"""
        WITH event_objects AS MATERIALIZED ({EVENT_OBJECTS}), expected (transaction_id, user_id, type) AS (
            SELECT t.id, v.user_id, 'transaction.completed' FROM transactions_transaction t
            JOIN accounts_account fa ON fa.id = t.from_account_id
            JOIN accounts_account ta ON ta.id = t.to_account_id
            CROSS JOIN LATERAL (VALUES (fa.owner_id), (ta.owner_id), (t.initiator_id)) AS v (user_id)
            WHERE t.status IN ('COMPLETED', 'REVERSED') AND t.created_at >= %(events_since)s
            UNION ALL
            SELECT t.id, t.initiator_id, 'transaction.failed' FROM transactions_transaction t
            WHERE t.status = 'FAILED' AND t.created_at >= %(events_since)s
            UNION ALL
            SELECT t.id, v.user_id, 'transaction.reversed' FROM transactions_transaction t
            JOIN transactions_transaction r ON r.reverses_id = t.id AND r.status = 'COMPLETED'
            JOIN accounts_account fa ON fa.id = t.from_account_id
            JOIN accounts_account ta ON ta.id = t.to_account_id
            CROSS JOIN LATERAL (VALUES (fa.owner_id), (ta.owner_id)) AS v (user_id)
            WHERE t.status = 'REVERSED' AND r.created_at >= %(events_since)s
            UNION ALL
            -- A batch that wrote its items (not an atomic decline) tells its initiator.
            SELECT b.id, b.initiator_id, 'batch.completed' FROM transactions_batch b
            WHERE b.response_status <> 422 AND b.created_at >= %(events_since)s
        )
        SELECT DISTINCT x.transaction_id FROM expected x
        WHERE NOT EXISTS (
            SELECT 1 FROM event_objects e
            WHERE e.user_id = x.user_id AND e.type = x.type AND e.object_id = x.transaction_id
        )
        """,
    ),
    (
        "no event without its change: each event's object exists, in its state, and its user may see it",
        f"""
        WITH event_objects AS MATERIALIZED ({EVENT_OBJECTS})
        SELECT e.id FROM event_objects e
        LEFT JOIN transactions_transaction t ON e.type LIKE 'transaction.%%' AND t.id = e.object_id
        LEFT JOIN accounts_account fa ON fa.id = t.from_account_id
        LEFT JOIN accounts_account ta ON ta.id = t.to_account_id
        LEFT JOIN transactions_hold h ON e.type LIKE 'hold.%%' AND h.id = e.object_id
        LEFT JOIN accounts_account hf ON hf.id = h.from_account_id
        LEFT JOIN accounts_account ht ON ht.id = h.to_account_id
        LEFT JOIN transactions_idempotencykey hv ON hv.id = h.void_idempotency_id
        LEFT JOIN accounts_account a ON e.type LIKE 'account.%%' AND a.id = e.object_id
        LEFT JOIN transactions_batch b ON e.type = 'batch.completed' AND b.id = e.object_id
        WHERE (e.type LIKE 'transaction.%%' AND (
                  t.id IS NULL
                  OR e.user_id NOT IN (fa.owner_id, ta.owner_id, t.initiator_id)
                  OR (e.type = 'transaction.completed' AND t.status NOT IN ('COMPLETED', 'REVERSED'))
                  OR (e.type = 'transaction.failed' AND (t.status <> 'FAILED' OR e.user_id <> t.initiator_id))
                  OR (e.type = 'transaction.reversed' AND t.status <> 'REVERSED')))
           OR (e.type LIKE 'hold.%%' AND (
                  h.id IS NULL
                  OR e.user_id NOT IN (hf.owner_id, ht.owner_id, h.initiator_id, COALESCE(hv.initiator_id, h.initiator_id))
                  OR (e.type = 'hold.captured' AND h.status <> 'CAPTURED')
                  OR (e.type = 'hold.voided' AND h.status <> 'VOIDED')
                  OR (e.type = 'hold.expired' AND h.status <> 'EXPIRED')))
           OR (e.type LIKE 'account.%%' AND (a.id IS NULL OR e.user_id <> a.owner_id))
           OR (e.type = 'batch.completed' AND (b.id IS NULL OR e.user_id <> b.initiator_id OR b.response_status = 422))
        """,
    ),
    (
        "a batch's key is no other outcome's (no transaction or hold of its own has it)",
        """
        SELECT b.id FROM transactions_batch b JOIN transactions_transaction t ON t.idempotency_id = b.idempotency_id
        UNION ALL
        SELECT b.id FROM transactions_batch b JOIN transactions_hold h ON h.idempotency_id = b.idempotency_id
        """,
    ),
    (
        "a batch has its items: none if atomic and declined, else one per transfer, all its initiator's; "
        "an atomic one has no FAILED item, a COMPLETED one no FAILED item, a FAILED one no completed item",
        """
        SELECT b.id FROM transactions_batch b
        LEFT JOIN transactions_transaction t ON t.batch_id = b.id
        GROUP BY b.id
        HAVING COUNT(t.id) <> CASE WHEN b.atomic AND b.status = 'FAILED' THEN 0 ELSE b.count END
            OR COALESCE(bool_or(t.initiator_id <> b.initiator_id), false)
            OR ((b.atomic OR b.status = 'COMPLETED') AND COALESCE(bool_or(t.status = 'FAILED'), false))
            OR (b.status = 'FAILED' AND COALESCE(bool_or(t.status <> 'FAILED'), false))
        """,
    ),
    (
        # What statements and `?asOf=` rest on: an entry's balance_after is the one before it
        # plus or minus its amount, and it is not older than the one before it.
        "each entry's balance_after follows the account's previous entry, and its time is not earlier",
        """
        SELECT account_id FROM (
            -- Newest first, so the window reads ledger_entry_account_id_idx in its order instead of
            -- sorting every entry (5.3 s instead of 6.9 s at 2,000,000 entries, a busy machine).
            SELECT account_id, type, amount, balance_after, created_at,
                   lead(balance_after) OVER w AS previous_balance, lead(created_at) OVER w AS previous_at
            FROM transactions_ledgerentry WINDOW w AS (PARTITION BY account_id ORDER BY id DESC)
        ) e
        WHERE e.balance_after <> COALESCE(e.previous_balance, 0)
                                 + CASE WHEN e.type = 'CREDIT' THEN e.amount ELSE -e.amount END
           OR e.created_at < e.previous_at
        GROUP BY account_id
        """,
    ),
    (
        "money is conserved: all balances of a currency sum to zero",
        "SELECT currency FROM accounts_account GROUP BY currency HAVING SUM(balance) <> 0",
    ),
    # Webhooks (webhooks/migrations/0002_webhook_guards.sql keeps both at every write).
    (
        "a webhook delivery carries its endpoint owner's own event",
        """
        SELECT d.id FROM webhooks_webhookdelivery d
        JOIN webhooks_webhookendpoint w ON w.id = d.endpoint_id
        JOIN events_event e ON e.id = d.event_id
        WHERE e.user_id <> w.user_id
        """,
    ),
    (
        "a webhook attempt is of its delivery's endpoint",
        """
        SELECT a.id FROM webhooks_webhookattempt a
        JOIN webhooks_webhookdelivery d ON d.id = a.delivery_id
        WHERE d.endpoint_id <> a.endpoint_id
        """,
    ),
]

# Transactions newer than the retention window less this margin must have their events: the margin
# covers the purge running meanwhile and clocks that differ between the web and the worker.
EVENTS_CHECK_MARGIN = timedelta(hours=1)


def events_checked_since(now=None):
    return events_retention_start(now) + EVENTS_CHECK_MARGIN


COUNTS_SQL = """
    SELECT (SELECT COUNT(*) FROM accounts_account),
           (SELECT COUNT(*) FROM transactions_transaction),
           (SELECT COUNT(*) FROM transactions_ledgerentry)
"""


@dataclass
class LedgerReport:
    accounts: int = 0
    transactions: int = 0
    entries: int = 0
    violations: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        lines = [
            f"ledger {'OK' if self.ok else 'VIOLATED'}: {self.accounts} accounts, "
            f"{self.transactions} transactions, {self.entries} entries, {len(CHECKS)} checks"
        ]
        for name, ids in self.violations.items():
            shown = ", ".join(ids[:20]) + (f" (+{len(ids) - 20} more)" if len(ids) > 20 else "")
            lines.append(f"  VIOLATION {name}: {shown}")
        return "\n".join(lines)


def ledger_verify() -> LedgerReport:
    """Run every check in one REPEATABLE READ, read-only snapshot, so transfers committing
    meanwhile cannot make a consistent ledger look broken (or the reverse)."""
    report = LedgerReport()
    # Inside a caller's transaction (a test, say) the level is already fixed: PostgreSQL only
    # accepts SET TRANSACTION before a transaction's first query, so we read its snapshot instead.
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        # A whole-ledger check runs as long as the ledger is big: DB_STATEMENT_TIMEOUT_MS bounds requests.
        cursor.execute("SET LOCAL statement_timeout = 0")
        cursor.execute(COUNTS_SQL)
        report.accounts, report.transactions, report.entries = cursor.fetchone()
        params = {"events_since": events_checked_since()}
        for name, sql in CHECKS:
            cursor.execute(sql, params)
            offenders = [str(row[0]) for row in cursor.fetchall()]
            if offenders:
                report.violations[name] = offenders
    return report


def ledger_audit() -> LedgerAudit:
    """Run ledger_verify, keep the outcome for /api/health (and /metrics) and log it: the summary
    at INFO, or every violation with its offending ids at ERROR. Beat's nightly task and
    `manage.py verify_ledger` both run this, so every run is recorded the same way."""
    started_at = timezone.now()
    report = ledger_verify()
    audit = LedgerAudit.objects.create(
        started_at=started_at,
        finished_at=timezone.now(),
        ok=report.ok,
        summary=report.summary(),
        violations=report.violations,
    )
    if report.ok:
        logger.info("%s", audit.summary)
    else:
        for name, ids in report.violations.items():
            logger.error("ledger invariant violated: %s: %s", name, ", ".join(ids))
    return audit
