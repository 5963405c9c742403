from decimal import Decimal

from django.conf import settings
from django.core.checks import Error, register

from .money import MAX_TRANSFER_MINOR_UNITS, currency_exponent, is_iso_currency


@register()
def currency_settings_check(app_configs, **kwargs):
    errors = [
        Error(f"SUPPORTED_CURRENCIES: {code!r} is not an ISO 4217 currency code.", id="accounts.E001")
        for code in settings.SUPPORTED_CURRENCIES
        if not is_iso_currency(code)
    ]
    if settings.DEFAULT_CURRENCY not in settings.SUPPORTED_CURRENCIES:
        errors.append(Error("DEFAULT_CURRENCY must be one of SUPPORTED_CURRENCIES.", id="accounts.E002"))
    return errors


@register()
def max_transfer_amount_check(app_configs, **kwargs):
    """A cap whose minor units overflow a bigint would let one transfer fail in the database."""
    cap = settings.MAX_TRANSFER_AMOUNT
    if not cap.is_finite() or cap <= 0:
        return [
            Error(
                f"MAX_TRANSFER_AMOUNT must be a positive amount, like 1000000000.00 (it is {cap}).", id="accounts.E003"
            )
        ]
    errors = []
    for code in filter(is_iso_currency, settings.SUPPORTED_CURRENCIES):
        largest = Decimal(MAX_TRANSFER_MINOR_UNITS).scaleb(-currency_exponent(code))
        if cap > largest:
            errors.append(
                Error(
                    f"MAX_TRANSFER_AMOUNT {cap} is too large for {code}: at most {largest} "
                    f"({MAX_TRANSFER_MINOR_UNITS:,} minor units), so balances stay far inside 64 bits.",
                    id="accounts.E004",
                )
            )
    return errors


@register()
def default_limits_check(app_configs, **kwargs):
    """A default limit that does not parse would make every account opening a 500."""
    from .limits import limits_default  # the check runs before models are importable elsewhere

    errors = []
    for code in filter(is_iso_currency, settings.SUPPORTED_CURRENCIES):
        try:
            limits_default(code)
        except ValueError as exc:
            errors.append(Error(f"ACCOUNT_DEFAULT_LIMITS for {code}: {exc}", id="accounts.E005"))
    return errors
