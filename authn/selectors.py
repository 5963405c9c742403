from django.contrib.admin.models import LogEntry
from django.db.models import Exists, OuterRef

from accounts.models import Account
from transactions.models import IdempotencyKey

from .models import User


def user_is_kept(*, user: User) -> bool:
    """Whether the ledger keeps this user's row: they own an account (the ledger's history points
    at it through the account) or initiated a transaction (every transaction and declined attempt
    holds an idempotency key naming its initiator), or acted in the admin (the log of who did what
    would be deleted with them). Such users are deactivated, never deleted."""
    kept = User.objects.filter(id=user.id).annotate(
        has_accounts=Exists(Account.objects.filter(owner=OuterRef("id"))),
        initiated=Exists(IdempotencyKey.objects.filter(initiator=OuterRef("id"))),
        acted=Exists(LogEntry.objects.filter(user=OuterRef("id"))),
    )
    row = kept.values("has_accounts", "initiated", "acted").first()
    return bool(row) and any(row.values())
