"""Per-account limits as the API and settings spell them (API.md, "Limits and simple fraud rules").

Stored as minor units (a count for `daily_debit_count`), shown as decimal strings in the
account's currency (the count as an integer), null meaning "none". transactions/limits.py
enforces them.
"""

from decimal import Decimal, InvalidOperation

from django.conf import settings

from .models import LIMIT_FIELDS
from .money import BALANCE_MAX, MAX_AMOUNT_TEXT_LENGTH, PLAIN_DECIMAL, format_minor, to_minor

COUNT_LIMITS = {"daily_debit_count"}


def limits_json(account) -> dict:
    """`{overdraftLimit: "500.00" | null, ...}` for the account's owner (or an operator)."""
    return {
        json_name: _shown(column, getattr(account, column), account.currency)
        for column, json_name in LIMIT_FIELDS.items()
    }


def _shown(column: str, value, currency: str):
    if value is None or column in COUNT_LIMITS:
        return value
    return format_minor(value, currency)


def limit_parse(column: str, value, currency: str) -> int | None:
    """A limit from a request or a setting in stored units, or ValueError with the message for
    the client. Zero is allowed (a limit of nothing); null clears the limit."""
    if value is None:
        return None
    if column in COUNT_LIMITS:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= BALANCE_MAX:
            raise ValueError("Enter a whole number of debits, 0 or more.")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError('Enter an amount as a plain decimal number, like 500 or "500.50", or null.')
    text = str(value)
    if len(text) > MAX_AMOUNT_TEXT_LENGTH or not PLAIN_DECIMAL.match(text):
        raise ValueError('Enter an amount as a plain decimal number, like 500 or "500.50", or null.')
    try:
        minor = to_minor(Decimal(text), currency)
    except InvalidOperation as exc:  # PLAIN_DECIMAL admits nothing Decimal refuses; kept for safety
        raise ValueError("Enter a plain decimal number.") from exc
    if minor > BALANCE_MAX:
        raise ValueError("The amount is larger than an account can hold.")
    return minor


def limits_default(currency: str) -> dict:
    """The limits a new customer account starts with (ACCOUNT_DEFAULT_LIMITS, from the
    environment; accounts.checks refuses values that do not parse)."""
    return {
        column: limit_parse(column, value, currency)
        for column, value in settings.ACCOUNT_DEFAULT_LIMITS.items()
        if value is not None
    }


def limits_change_message(account, changed: dict, reason: str) -> str:
    """The history line of a limits change: `{column: (old, new)}` in the account's currency."""

    def shown(column, value):
        if value is None:
            return "none"
        return str(value) if column in COUNT_LIMITS else format_minor(value, account.currency)

    parts = [f"{LIMIT_FIELDS[c]} {shown(c, old)} → {shown(c, new)}" for c, (old, new) in changed.items()]
    return f"Limits changed: {', '.join(parts)}. Reason: {reason}"
