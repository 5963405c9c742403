from dataclasses import dataclass
from datetime import datetime

from django.db import connections
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import Account
from authn.models import User
from ledger_project.db_router import replica_alias
from ledger_project.metadata import metadata_filter_q

from .exceptions import BatchNotFoundError, HoldNotFoundError, TransactionNotFoundError
from .models import Batch, Hold, IdempotencyKey, LedgerAudit, LedgerEntry, Transaction, entries_prefetch


def _with_details(queryset: QuerySet[Transaction]) -> QuerySet[Transaction]:
    return queryset.select_related("idempotency").prefetch_related(entries_prefetch())


def _visible_to(user: User) -> Q:
    """A declined transaction is its initiator's alone: anyone may aim a transfer at any account
    id, so showing declines to the target's owner would let a user with no money write into
    anyone's history."""
    return ~Q(status=Transaction.Status.FAILED) | Q(initiator=user)


def transaction_list(
    *, user: User, account_id=None, status: str | None = None, metadata: dict | None = None
) -> QuerySet[Transaction]:
    """Transactions touching the caller's accounts (either side), newest first; from the replica
    when one is configured (a list may lag; the transfer's own answer and the detail route do not).
    A `metadata` filter matches only what the caller initiated: the other side never sees a
    transaction's metadata, so it must not be able to probe it through the filter either."""
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
    if metadata:
        queryset = queryset.filter(metadata_filter_q(metadata), initiator=user)
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


def hold_list(
    *, user: User, account_id=None, status: str | None = None, metadata: dict | None = None
) -> QuerySet[Hold]:
    """Holds touching the caller's accounts (either side), newest first. `status` is the status
    the API shows: PENDING means unexpired, EXPIRED includes PENDING holds past their expiry.
    A `metadata` filter matches only the caller's own holds, as for transactions."""
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
    if metadata:
        queryset = queryset.filter(metadata_filter_q(metadata), initiator=user)
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


@dataclass(frozen=True)
class Statement:
    """An account's period [start, end): balances at both ends, what moved in between, and the
    period's entries (oldest first; a queryset to page or stream)."""

    account: Account
    start: datetime
    end: datetime
    opening: int
    closing: int
    credits: int
    debits: int
    count: int
    entries: QuerySet[LedgerEntry]


# One statement, so one snapshot: the balances at both ends and the totals agree even while
# transfers land. The balances are the last `balance_after` before each end (one backward step
# each on ledger_entry_account_time_idx); the totals an index-only scan of the period on it.
STATEMENT_SQL = f"""
    WITH opening AS (
        SELECT id, balance_after FROM {LedgerEntry._meta.db_table}
        WHERE account_id = %(account)s AND created_at < %(start)s ORDER BY created_at DESC, id DESC LIMIT 1
    ), closing AS (
        SELECT id, balance_after FROM {LedgerEntry._meta.db_table}
        WHERE account_id = %(account)s AND created_at < %(end)s ORDER BY created_at DESC, id DESC LIMIT 1
    ), totals AS (
        SELECT count(*) AS n,
               COALESCE(sum(amount) FILTER (WHERE type = 'CREDIT'), 0) AS credits,
               COALESCE(sum(amount) FILTER (WHERE type = 'DEBIT'), 0) AS debits
        FROM {LedgerEntry._meta.db_table}
        WHERE account_id = %(account)s AND created_at >= %(start)s AND created_at < %(end)s
    )
    SELECT (SELECT id FROM opening), (SELECT balance_after FROM opening),
           (SELECT id FROM closing), (SELECT balance_after FROM closing), n, credits, debits
    FROM totals
"""


def account_statement(*, account: Account, start, end) -> Statement:
    """The account's statement for [start, end), from the replica when one is configured (like
    ledger_entry_list); the caller resolved the account with accounts.selectors.account_get.

    The period's entries are the ids after the opening entry up to the closing one: on one
    account an entry is never older than the one before it (transactions.services._post_completed,
    checked by verify_ledger), and ids follow commit order (each is drawn under the account's
    lock), so this id range is exactly the period, and pages on `ledger_entry_account_id_idx`
    like the entries route."""
    alias = replica_alias()
    with connections[alias].cursor() as cursor:
        cursor.execute(STATEMENT_SQL, {"account": account.id, "start": start, "end": end})
        opening_id, opening, closing_id, closing, count, credits, debits = cursor.fetchone()
    entries = account.entries.using(alias).filter(id__gt=opening_id or 0, id__lte=closing_id or 0)
    return Statement(
        account=account,
        start=start,
        end=end,
        opening=opening or 0,
        closing=closing or 0,
        credits=credits,
        debits=debits,
        count=count,
        entries=entries,
    )
