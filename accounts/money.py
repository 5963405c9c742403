"""Currencies and exact amounts.

Amounts are stored as integers in the currency's minor unit (paise for INR) and leave the API as
decimal strings with exactly the currency's places. The number of places comes from ISO 4217
(the maintained `iso4217` package), never from a hand-written table.
"""

import re
from decimal import Decimal
from functools import cache

from django.conf import settings
from iso4217 import Currency

# Plain decimal text, ASCII digits only: no sign, exponent, spaces, underscores or leading zeros.
PLAIN_DECIMAL = re.compile(r"\A(0|[1-9][0-9]*)(\.[0-9]+)?\Z")
MAX_AMOUNT_TEXT_LENGTH = 32

# Balances are PostgreSQL bigints of minor units. The bigint's own floor, -2^63, is left out: the
# balance UPDATE's `-9223372036854775808::bigint` casts before it negates, and 2^63 overflows.
BALANCE_MIN, BALANCE_MAX = -(2**63 - 1), 2**63 - 1
# MAX_TRANSFER_AMOUNT in minor units may not exceed this (accounts.checks): a balance then takes
# over 9,000 transfers at the cap before it could leave the bigint range.
MAX_TRANSFER_MINOR_UNITS = 10**15

AMOUNT_FORMAT_MESSAGE = 'Enter a positive amount as a plain decimal number, like 500 or "500.50".'


@cache
def currency_exponent(code: str) -> int:
    """Decimal places of the currency's minor unit (2 for INR, 0 for JPY). Cached: a batch's
    answer formats over a thousand amounts, and the lookup cost more than the formatting."""
    return Currency(code).exponent or 0


def is_iso_currency(code: str) -> bool:
    try:
        Currency(code)
    except ValueError:
        return False
    return True


def is_supported_currency(code) -> bool:
    return isinstance(code, str) and code in settings.SUPPORTED_CURRENCIES


def parse_amount(value) -> Decimal:
    """Read a request amount exactly, or raise ValueError with the message for the client.

    Accepts a JSON integer, a JSON number kept as its literal text (ledger_project.parsers), or a
    string of plain decimal text. Places are checked against the currency later (to_minor),
    once the account, and so the currency, is known.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(AMOUNT_FORMAT_MESSAGE)
    text = str(value)
    if len(text) > MAX_AMOUNT_TEXT_LENGTH or not PLAIN_DECIMAL.match(text):
        raise ValueError(AMOUNT_FORMAT_MESSAGE)
    amount = Decimal(text)
    if amount <= 0:
        raise ValueError("The amount must be greater than zero.")
    if amount > settings.MAX_TRANSFER_AMOUNT:
        raise ValueError(f"The amount must not exceed {settings.MAX_TRANSFER_AMOUNT}.")
    return amount


def to_minor(amount: Decimal, currency: str) -> int:
    """Exact conversion to minor units; ValueError if the amount has more places than the currency.

    Counted on the digits, never through Decimal arithmetic: its 28-digit context rounds, so
    `0.999999999999999999999999999999` scaled to paise became a whole 100. Trailing zeros are not
    places (`1.000` is 1.00)."""
    exponent = currency_exponent(currency)
    whole, _, fraction = format(amount, "f").partition(".")
    fraction = fraction.rstrip("0")
    if len(fraction) > exponent:
        raise ValueError(f"{currency} amounts have at most {exponent} decimal places.")
    return int(whole + fraction.ljust(exponent, "0"))


def format_minor(minor: int, currency: str) -> str:
    """Minor units to the wire format: "500.00" for 50000 paise. `minor` may be a whole Decimal
    (PostgreSQL's SUM of bigints is numeric)."""
    exponent, minor = currency_exponent(currency), int(minor)
    if exponent == 0:
        return str(minor)
    whole, fraction = divmod(abs(minor), 10**exponent)  # integers: exact at any size
    return f"{'-' if minor < 0 else ''}{whole}.{fraction:0{exponent}d}"
