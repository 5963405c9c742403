from django.db.models import QuerySet

from authn.models import User
from ledger_project.metadata import metadata_filter_q

from .exceptions import AccountNotFoundError
from .models import Account


def account_list(*, owner: User, metadata: dict | None = None) -> QuerySet[Account]:
    accounts = Account.objects.filter(owner=owner)
    if metadata:
        accounts = accounts.filter(metadata_filter_q(metadata))
    return accounts.order_by("created_at", "id")


def account_get(*, owner: User, account_id) -> Account:
    """The caller's own account; anyone else's is indistinguishable from a missing one."""
    account = Account.objects.filter(owner=owner, id=account_id).first()
    if account is None:
        raise AccountNotFoundError()
    return account


def account_balance_as_of(*, account: Account, instant) -> int:
    """The posted balance right after the account's last entry at or before `instant` (0 before
    its first): that entry's `balance_after`, found by one lookup on
    `ledger_entry_account_time_idx`, never a sum over history. The caller resolved the account
    with account_get (its owner's only)."""
    entries = account.entries.filter(created_at__lte=instant).order_by("-created_at", "-id")
    return entries.values_list("balance_after", flat=True).first() or 0
