from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import Account
from authn.models import User
from ledger_project.db_router import replica_alias

from .exceptions import BatchNotFoundError, HoldNotFoundError, TransactionNotFoundError
from .models import Batch, Hold, IdempotencyKey, LedgerAudit, LedgerEntry, Transaction, entries_prefetch


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


def transaction_accounts(txn: Transaction) -> tuple[Account, Account]:
    """Both sides of a transaction as they are now (debit, credit): a replayed answer's balances."""
    accounts = Account.objects.in_bulk([txn.from_account_id, txn.to_account_id])
    return accounts[txn.from_account_id], accounts[txn.to_account_id]


def hold_accounts(hold: Hold) -> tuple[Account, Account]:
    """Both sides of a hold as they are now (source, destination): a replayed answer's balances."""
    accounts = Account.objects.in_bulk([hold.from_account_id, hold.to_account_id])
    return accounts[hold.from_account_id], accounts[hold.to_account_id]


def ledger_entry_list(*, account: Account) -> QuerySet[LedgerEntry]:
    """One account's statement, from the replica when one is configured (a statement may lag by
    the replication delay); the caller resolved the account with accounts.selectors.account_get."""
    # Through the related manager, each entry knows its account (and currency) without a query.
    return account.entries.using(replica_alias())


def ledger_audit_latest() -> LedgerAudit | None:
    """The newest verify_ledger run (/api/health shows it), None before the first."""
    return LedgerAudit.objects.order_by("-finished_at").first()


def _holds_visible_to(user: User) -> Q:
    """Holds on one of the user's accounts; a declined (FAILED) one only to its creator, as for
    transactions: anyone may aim a hold at any account id."""
    return (Q(from_account__owner=user) | Q(to_account__owner=user)) & (
        ~Q(status=Hold.Status.FAILED) | Q(initiator=user)
    )


def _hold_details(queryset: QuerySet[Hold]) -> QuerySet[Hold]:
    # The capture's id as a column of the same query (HoldOutputSerializer's `transaction`).
    return queryset.select_related("idempotency").annotate(capture_id=F("capture__id"))


def hold_list(*, user: User, account_id=None, status: str | None = None) -> QuerySet[Hold]:
    """Holds touching the caller's accounts (either side), newest first. `status` is the status
    the API shows: PENDING means unexpired, EXPIRED includes PENDING holds past their expiry."""
    accounts = Account.objects.filter(owner=user)
    if account_id is not None:
        accounts = accounts.filter(id=account_id)
    account_ids = accounts.values("id")
    queryset = Hold.objects.filter(
        Q(from_account_id__in=account_ids) | Q(to_account_id__in=account_ids),
        ~Q(status=Hold.Status.FAILED) | Q(initiator=user),
    )
    now = timezone.now()
    if status == Hold.Status.PENDING:
        queryset = queryset.filter(status=status, expires_at__gt=now)
    elif status == Hold.Status.EXPIRED:
        queryset = queryset.filter(Q(status=status) | Q(status=Hold.Status.PENDING, expires_at__lte=now))
    elif status:
        queryset = queryset.filter(status=status)
    return _hold_details(queryset)


def hold_get(*, user: User, hold_id) -> Hold:
    """Visible only to the owner of one of its sides (a decline: to its creator only)."""
    hold = _hold_details(Hold.objects.filter(_holds_visible_to(user), id=hold_id)).first()
    if hold is None:
        raise HoldNotFoundError()
    return hold


def transaction_outcome_totals(*, after_key_id: int, settled_before) -> tuple[int, list[dict]]:
    """Transactions counted by kind, outcome, decline code and currency, with their amounts, for
    the idempotency keys after `after_key_id` claimed before `settled_before`; returns the last key
    id counted (the next call's `after_key_id`) and the rows. For /metrics' running totals.

    Every transaction answers to one idempotency key (its own, or its batch's), and key ids grow, so a range of key ids is an
    index range on `transaction.idempotency_id`: a scrape reads only the transactions since the
    last one, not the whole table (about a second at a million rows). Keys claimed less than the
    settle time ago are left for later: a key's id is drawn at its claim, but its transaction may
    commit after a later key's, and a range once passed is never read again.
    """
    upto = (
        IdempotencyKey.objects.filter(id__gt=after_key_id, created_at__lt=settled_before)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    if upto is None:
        return after_key_id, []
    # A batch's items carry its key, not their own: counted through the batch, in a second
    # branch of one UNION ALL (an OR across the join would lose both index ranges). A group may
    # come twice, once from each branch: the caller adds rows up.
    direct, via_batch = (
        Transaction.objects.filter(**key_range)
        .values("kind", "status", "failure_reason", "currency")
        .annotate(count=Count("id"), amount=Sum("amount"))
        .order_by()
        for key_range in (
            {"idempotency_id__gt": after_key_id, "idempotency_id__lte": upto},
            {"batch__idempotency_id__gt": after_key_id, "batch__idempotency_id__lte": upto},
        )
    )
    rows = list(direct.union(via_batch, all=True))
    return upto, rows


def batch_get(*, user: User, batch_id) -> tuple[Batch, dict]:
    """A batch its initiator sent (anyone else: 404), with its transactions by id as they are now."""
    batch = Batch.objects.filter(id=batch_id, initiator=user).first()
    if batch is None:
        raise BatchNotFoundError()
    transactions = _with_details(Transaction.objects.filter(batch=batch))
    return batch, {str(txn.id): txn for txn in transactions}
