"""The per-account limits every customer write checks (API.md, "Limits and simple fraud rules").

Checked on the rows the write locked, never on a separate read: a limit read before the lock is
a race (two transfers both see room for one). Funding and reversals are exempt (operators'
tools); the overdraft limit enters through `Account.available` (transactions/funds.py).
"""

from dataclasses import dataclass
from datetime import datetime

from accounts.models import LIMIT_FIELDS, Account
from accounts.money import format_minor

from .usage import DAY, MONTH, window_resets

# Window limits: (column, window, what it counts: index into a usage row's (amount, count)).
WINDOW_CHECKS = (
    ("daily_debit_amount", DAY, 0),
    ("daily_debit_count", DAY, 1),
    ("monthly_debit_amount", MONTH, 0),
)


@dataclass(frozen=True)
class LimitBreach:
    """Which limit of which account a write would exceed, for the decline's `details`."""

    account: Account
    limit: str  # the column, e.g. "max_balance"
    value: int  # the limit itself
    used: int  # what the window (or the balance, for max_balance) already holds
    requested: int
    window: str | None = None  # "day" or "month" for usage limits
    resets_at: datetime | None = None

    def details(self) -> dict:
        currency = self.account.currency
        money = self.limit != "daily_debit_count"

        def shown(value: int):
            return format_minor(value, currency) if money else value

        return {
            "accountId": str(self.account.id),
            "limit": LIMIT_FIELDS[self.limit],
            "limitValue": shown(self.value),
            "window": self.window.lower() if self.window else None,
            "used": shown(self.used),
            "requested": shown(self.requested),
            "remaining": shown(max(self.value - self.used, 0)),
            "resetsAt": self.resets_at.isoformat().replace("+00:00", "Z") if self.resets_at else None,
        }


def limit_breach(debit: Account, credit: Account, amount: int) -> LimitBreach | None:
    """The first limit that moving `amount` from `debit` to `credit` would exceed, else None.
    Pure: it reads the locked rows only (and `debit.window_usage`, which transactions.usage.usage_read
    loads under the same lock; absent, as on a replay's fresh read, the windows are not judged),
    so a decline's details are built from the same values."""
    if debit.per_transfer_max is not None and amount > debit.per_transfer_max:
        return LimitBreach(debit, "per_transfer_max", debit.per_transfer_max, 0, amount)
    usage = getattr(debit, "window_usage", None)
    for column, window, counted in WINDOW_CHECKS:
        value = getattr(debit, column)
        if value is None or usage is None:
            continue
        starts_on, *used = usage[window]
        requested = amount if counted == 0 else 1
        if used[counted] + requested > value:
            resets = window_resets(window, starts_on)
            return LimitBreach(debit, column, value, used[counted], requested, window, resets)
    return max_balance_breach(credit, amount)


def max_balance_breach(credit: Account, amount: int) -> LimitBreach | None:
    """Whether crediting `amount` would take the locked `credit` past its maxBalance."""
    if credit.max_balance is not None and credit.balance + amount > credit.max_balance:
        return LimitBreach(credit, "max_balance", credit.max_balance, credit.balance, amount)
    return None
