"""django-axes' hooks for the admin login (settings: AXES_*)."""

from django.conf import settings
from django.core.exceptions import ValidationError

from ledger_project.exceptions import error_response

from .exceptions import AdminLoginLockedError
from .models import normalize_email


def admin_login_account(request, credentials) -> str:
    """The account an admin login names, in its canonical spelling: `Ann@Example.com` and
    `ann@example.com` are one account and share one count of failures."""
    raw = (credentials or {}).get("username") or request.POST.get("username", "")
    try:
        return normalize_email(raw)
    except ValidationError:
        return raw.strip().lower()  # no user has it; counted all the same


def admin_login_locked(request, response, credentials):
    """The answer to every attempt while locked out: a JSON 429 like the API's throttles."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    return error_response(AdminLoginLockedError(headers={"Retry-After": str(seconds)}))
