"""The funds check every write makes (transfer, hold), on the debited account's locked row.

`available` is `balance − held + overdraft_limit` (accounts.models.Account.available). Expiry is
exact: a PENDING hold whose `expires_at` has passed counts for nothing, even before beat's
`holds_expire` sweeps it. Sweeping those here, only when they are what stands between the
request and its funds, keeps the common path free of any extra statement. The sweep gives the
holds' usage back, as every expiry does.
"""

from django.db import connection
from django.utils import timezone

from accounts.models import Account, AccountUsage

from .models import Hold

# Expired holds of one account marked EXPIRED and their amount taken off its `held`, in one
# statement. SKIP LOCKED: a hold row locked by a capture, void or sweep in progress is left to
# it (that writer releases it, or it stays held); waiting for it here, while holding the
# account's lock, would invert the lock order (hold, then accounts) and could deadlock.
EXPIRED_RELEASE_SQL = f"""
    WITH expired AS (
        SELECT id FROM {Hold._meta.db_table}
        WHERE from_account_id = %(account)s AND status = 'PENDING' AND expires_at <= %(now)s
        FOR UPDATE SKIP LOCKED
    ), marked AS (
        UPDATE {Hold._meta.db_table} AS hold SET status = 'EXPIRED', updated_at = %(now)s
        FROM expired WHERE hold.id = expired.id
        RETURNING hold.amount, hold.created_at
    ), usage_given_back AS (
        -- Their share back to the usage windows they were counted in: a no-op for an account
        -- that keeps no usage rows (transactions/usage.py).
        UPDATE {AccountUsage._meta.db_table} AS usage
        SET amount = usage.amount - back.amount, count = usage.count - back.holds
        FROM (
            SELECT window_start.kind, window_start.starts_on, SUM(marked.amount) AS amount, COUNT(*) AS holds
            FROM marked CROSS JOIN LATERAL (VALUES
                ('DAY', (marked.created_at AT TIME ZONE 'UTC')::date),
                ('MONTH', date_trunc('month', marked.created_at AT TIME ZONE 'UTC')::date)
            ) AS window_start (kind, starts_on)
            GROUP BY 1, 2
        ) AS back
        WHERE usage.account_id = %(account)s AND usage."window" = back.kind AND usage.starts_on = back.starts_on
    )
    UPDATE {Account._meta.db_table} SET held = held - (SELECT COALESCE(SUM(amount), 0) FROM marked)
    WHERE id = %(account)s
    RETURNING held
"""


def funds_cover(account: Account, amount: int) -> bool:
    """Whether the locked `account` can spend `amount` now. Call inside the atomic block that
    locked it (`transactions.services._lock_accounts`); may release its expired holds, and then
    updates `account.held` to match the row."""
    if account.is_system or account.available >= amount:
        return True
    if account.held == 0:
        return False
    with connection.cursor() as cursor:
        cursor.execute(EXPIRED_RELEASE_SQL, {"account": account.id, "now": timezone.now()})
        (account.held,) = cursor.fetchone()
    return account.available >= amount
