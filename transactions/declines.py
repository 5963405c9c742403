"""What a decline's `details` and a write's `balances` show: only the caller's own accounts
(API.md, "Structured declines and resulting balances"). Built from account rows already loaded
(the write's locked rows), so answering costs no query."""

from accounts.models import Account
from accounts.money import format_minor
from accounts.serializers import viewer_owns

from .exceptions import AccountInactiveError, InsufficientFundsError, LimitExceededError
from .limits import limit_breach


def balances_json(accounts, *, viewer) -> dict:
    """`{<accountId>: {balance, held, available}}` for each of `accounts` the viewer owns."""
    return {
        str(account.id): {
            "balance": format_minor(account.balance, account.currency),
            "held": format_minor(account.held, account.currency),
            "available": format_minor(account.available, account.currency),
        }
        for account in accounts
        if viewer_owns({"viewer": viewer}, account)
    }


def decline_details(code: str, *, debit: Account, credit: Account, amount: int, viewer) -> dict | None:
    """The `details` of a decline with `code` of moving `amount` from `debit` to `credit`, or
    None when they would be about an account the viewer does not own."""
    if code == InsufficientFundsError.code:
        if not viewer_owns({"viewer": viewer}, debit):
            return None
        return {
            "accountId": str(debit.id),
            "currency": debit.currency,
            "available": format_minor(debit.available, debit.currency),
            "requested": format_minor(amount, debit.currency),
            "shortfall": format_minor(amount - debit.available, debit.currency),
            # The floor `available` counts down to: minus the overdraft limit (0 when none is set).
            "overdraftLimit": format_minor(debit.overdraft_limit or 0, debit.currency),
        }
    if code == LimitExceededError.code:
        # Recomputed from the rows: on a replay they are read again, and a limit changed since
        # (or one no longer exceeded) gives no details rather than wrong ones.
        breach = limit_breach(debit, credit, amount)
        if breach is None or not viewer_owns({"viewer": viewer}, breach.account):
            return None
        return breach.details()
    if code == AccountInactiveError.code:
        return inactive_details((debit, credit), viewer=viewer)
    return None


def inactive_details(accounts, *, viewer) -> dict | None:
    """`{accountId, status}` of the first inactive account the viewer owns, else None."""
    for account in accounts:
        if account.status != Account.Status.ACTIVE and viewer_owns({"viewer": viewer}, account):
            return {"accountId": str(account.id), "status": account.status}
    return None
