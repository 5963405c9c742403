from django.conf import settings
from django.core.checks import Error, register

from .money import is_iso_currency


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
