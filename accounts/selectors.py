from django.db.models import QuerySet

from authn.models import User
from ledger_project.metadata import metadata_filter_q
from ledger_project.rows import model_rows

from .exceptions import AccountNotFoundError
from .models import Account


def account_list(*, owner: User, metadata: dict | None = None) -> QuerySet[Account]:
    accounts = Account.objects.filter(owner=owner)
    if metadata:
        accounts = accounts.filter(metadata_filter_q(metadata))
    return accounts.order_by("created_at", "id")


# Plain SQL (ledger_project.rows): on the balance route, building the ORM's query cost more Python
# time than the rest of the request's own work.
ACCOUNT_GET_SQL = f"SELECT * FROM {Account._meta.db_table} WHERE id = %s AND owner_id = %s"


def account_get(*, owner: User, account_id) -> Account:
    """The caller's own account; anyone else's is indistinguishable from a missing one."""
    account = next(iter(model_rows(Account, ACCOUNT_GET_SQL, [account_id, owner.id])), None)
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
