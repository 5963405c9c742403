from django.db.models import Q, QuerySet

from accounts.models import Account
from authn.models import User
from ledger_project.db_router import replica_alias

from .exceptions import TransactionNotFoundError
from .models import LedgerAudit, LedgerEntry, Transaction, entries_prefetch


def _with_details(queryset: QuerySet[Transaction]) -> QuerySet[Transaction]:
    return queryset.select_related("idempotency").prefetch_related(entries_prefetch())


def _visible_to(user: User) -> Q:
    """A declined transaction is its initiator's alone: anyone may aim a transfer at any account
    id, so showing declines to the target's owner would let a user with no money write into
    anyone's history."""
    return ~Q(status=Transaction.Status.FAILED) | Q(initiator=user)


def transaction_list(*, user: User, account_id=None, status: str | None = None) -> QuerySet[Transaction]:
    """Transactions touching the caller's accounts (either side), newest first; from the replica
    when one is configured (a list may lag; the transfer's own answer and the detail route do not)."""
    alias = replica_alias()  # the subquery on the same database as its query, as Django requires
    accounts = Account.objects.using(alias).filter(owner=user)
    if account_id is not None:
        accounts = accounts.filter(id=account_id)
    account_ids = accounts.values("id")
    queryset = Transaction.objects.using(alias).filter(
        Q(from_account_id__in=account_ids) | Q(to_account_id__in=account_ids), _visible_to(user)
    )
    if status:
        queryset = queryset.filter(status=status)
    return _with_details(queryset)


def transaction_get(*, user: User, transaction_id) -> Transaction:
    """Visible only to the owner of one of its sides (a decline: to its initiator only); anyone
    else gets a 404."""
    txn = (
        _with_details(Transaction.objects.filter(id=transaction_id))
        .filter(Q(from_account__owner=user) | Q(to_account__owner=user), _visible_to(user))
        .first()
    )
    if txn is None:
        raise TransactionNotFoundError()
    return txn


def ledger_entry_list(*, account: Account) -> QuerySet[LedgerEntry]:
    """One account's statement, from the replica when one is configured (a statement may lag by
    the replication delay); the caller resolved the account with accounts.selectors.account_get."""
    # Through the related manager, each entry knows its account (and currency) without a query.
    return account.entries.using(replica_alias())


def ledger_audit_latest() -> LedgerAudit | None:
    """The newest verify_ledger run (/api/health shows it), None before the first."""
    return LedgerAudit.objects.order_by("-finished_at").first()
