"""Daily and monthly usage of accounts with such limits (accounts.AccountUsage).

Holds count when created (in the window of their creation); a void or expiry gives the hold's
amount and count back to that window; a capture does not count again. Transfers count once;
funding and reversals never. Only accounts with a daily or monthly limit keep rows, and every
change happens under the account's row lock: the limit check reads the row, never sums history.
An account gets its rows seeded from history when such a limit is first set
(`usage_seed`), and loses them when the last one is cleared, so a row always equals what it
counts (verify_ledger checks it).
"""

from datetime import UTC, date, datetime, timedelta

from django.db import connection

from accounts.models import Account, AccountUsage

from .models import Hold, Transaction

DAY, MONTH = AccountUsage.Window.DAY, AccountUsage.Window.MONTH
WINDOW_LIMITS = ("daily_debit_amount", "daily_debit_count", "monthly_debit_amount")
TABLE = AccountUsage._meta.db_table


def has_window_limit(account: Account) -> bool:
    return any(getattr(account, name) is not None for name in WINDOW_LIMITS)


def window_starts(moment: datetime) -> dict[str, date]:
    """`{DAY: the UTC day, MONTH: its month's first day}` that `moment` falls in."""
    day = moment.astimezone(UTC).date()
    return {DAY: day, MONTH: day.replace(day=1)}


def window_resets(window: str, starts_on: date) -> datetime:
    """When the window that started on `starts_on` ends (UTC midnight)."""
    if window == DAY:
        end = starts_on + timedelta(days=1)
    else:
        end = (starts_on.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime(end.year, end.month, end.day, tzinfo=UTC)


READ_SQL = f"""
    SELECT account_id, "window", amount, count FROM {TABLE}
    WHERE account_id = ANY(%s) AND (("window" = 'DAY' AND starts_on = %s) OR ("window" = 'MONTH' AND starts_on = %s))
"""


def usage_read(account: Account, now: datetime) -> None:
    """Load the locked `account`'s current windows onto it as `account.window_usage`
    (`{window: (starts_on, amount, count)}`); one statement, made only for accounts with a
    window limit. Call inside the write's atomic block, after the account's lock."""
    usage_read_many([account], now)


def usage_read_many(accounts: list[Account], now: datetime) -> None:
    """`usage_read` for several locked accounts in one statement (a batch's debited ones)."""
    starts = window_starts(now)
    with connection.cursor() as cursor:
        cursor.execute(READ_SQL, [[account.id for account in accounts], starts[DAY], starts[MONTH]])
        found = {(account_id, window): (amount, count) for account_id, window, amount, count in cursor.fetchall()}
    for account in accounts:
        account.window_usage = {
            window: (start, *found.get((account.id, window), (0, 0))) for window, start in starts.items()
        }


ADD_SQL = f"""
    INSERT INTO {TABLE} (account_id, "window", starts_on, amount, count)
    VALUES (%(account)s, 'DAY', %(day)s, %(amount)s, 1), (%(account)s, 'MONTH', %(month)s, %(amount)s, 1)
    ON CONFLICT (account_id, "window", starts_on)
    DO UPDATE SET amount = {TABLE}.amount + EXCLUDED.amount, count = {TABLE}.count + 1
"""


def usage_add(account: Account, amount: int) -> None:
    """Count one debit of `amount` in the windows `usage_read` loaded. Call in the same atomic block."""
    with connection.cursor() as cursor:
        cursor.execute(
            ADD_SQL,
            {
                "account": account.id,
                "day": account.window_usage[DAY][0],
                "month": account.window_usage[MONTH][0],
                "amount": amount,
            },
        )


GIVE_BACK_SQL = f"""
    UPDATE {TABLE} SET amount = amount - %(amount)s, count = count - 1
    WHERE account_id = %(account)s
      AND (("window" = 'DAY' AND starts_on = %(day)s) OR ("window" = 'MONTH' AND starts_on = %(month)s))
"""


def usage_give_back(account: Account, hold: Hold) -> None:
    """A voided or expired hold's amount and count back to the windows it was counted in (if
    they are still kept). Call under the account's lock, for an account with a window limit."""
    starts = window_starts(hold.created_at)
    with connection.cursor() as cursor:
        cursor.execute(
            GIVE_BACK_SQL, {"account": account.id, "day": starts[DAY], "month": starts[MONTH], "amount": hold.amount}
        )


SEED_SQL = f"""
    WITH counted AS (
        SELECT amount, created_at FROM {Transaction._meta.db_table}
        WHERE from_account_id = %(account)s AND kind = 'TRANSFER' AND status IN ('COMPLETED', 'REVERSED')
          AND hold_id IS NULL AND created_at >= %(month_start)s
        UNION ALL
        SELECT amount, created_at FROM {Hold._meta.db_table}
        WHERE from_account_id = %(account)s AND status IN ('PENDING', 'CAPTURED') AND created_at >= %(month_start)s
    )
    INSERT INTO {TABLE} (account_id, "window", starts_on, amount, count)
    SELECT %(account)s, 'DAY', %(day)s, COALESCE(SUM(amount), 0), COUNT(*) FROM counted WHERE created_at >= %(day_start)s
    UNION ALL
    SELECT %(account)s, 'MONTH', %(month)s, COALESCE(SUM(amount), 0), COUNT(*) FROM counted
"""


def usage_seed(account: Account, now: datetime) -> None:
    """Start keeping the account's usage (a window limit was just set): its current day and month
    from history, once, under its lock; earlier windows no limit can bind any more."""
    starts = window_starts(now)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE account_id = %s", [account.id])
        cursor.execute(
            SEED_SQL,
            {
                "account": account.id,
                "day": starts[DAY],
                "month": starts[MONTH],
                "day_start": window_resets(DAY, starts[DAY]) - timedelta(days=1),
                "month_start": datetime(starts[MONTH].year, starts[MONTH].month, 1, tzinfo=UTC),
            },
        )


def usage_drop(account: Account) -> None:
    """Stop keeping the account's usage (its last window limit was cleared)."""
    AccountUsage.objects.filter(account=account).delete()
