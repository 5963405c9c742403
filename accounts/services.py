from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import transaction
from django.utils import timezone

from authn.models import User
from ledger_project.exceptions import InvalidInputError

from .exceptions import (
    AccountHasOpenHoldsError,
    AccountLimitReachedError,
    AccountNotEmptyError,
    AccountNotFoundError,
    AccountStatusConflictError,
    UnsupportedCurrencyError,
)
from .limits import limit_parse, limits_change_message, limits_default
from .models import LIMIT_FIELDS, Account
from .money import format_minor, is_supported_currency


def account_open(*, owner: User, currency: str | None = None, metadata: dict | None = None) -> Account:
    """A user holds at most MAX_ACCOUNTS_PER_USER accounts (closed ones count: rows are what the
    cap bounds; funding accounts, made by funding_accounts_ensure, do not)."""
    currency = currency or settings.DEFAULT_CURRENCY
    if not is_supported_currency(currency):
        supported = ", ".join(settings.SUPPORTED_CURRENCIES)
        raise UnsupportedCurrencyError(errors={"currency": [f"Supported currencies: {supported}."]})
    with transaction.atomic():
        # Count under a lock on the owner's row, so one user's concurrent opens queue here instead
        # of each counting room for one more. NO KEY: rows that merely reference the user (an
        # idempotency key of a transfer) need not wait for it.
        User.objects.select_for_update(no_key=True).values("id").get(id=owner.id)
        if Account.objects.filter(owner=owner, is_system=False).count() >= settings.MAX_ACCOUNTS_PER_USER:
            raise AccountLimitReachedError()
        return Account.objects.create(
            owner=owner, currency=currency, metadata=metadata or {}, **limits_default(currency)
        )


def account_metadata_set(*, owner: User, account_id, metadata: dict) -> Account:
    """Replace the metadata of the owner's account (any status: labels are not money). One
    UPDATE of the metadata column alone, so it can never write back a stale balance."""
    updated = Account.objects.filter(owner=owner, id=account_id, is_system=False).update(
        metadata=metadata, updated_at=timezone.now()
    )
    if not updated:
        raise AccountNotFoundError()
    return Account.objects.get(id=account_id)


def account_limits_set(
    *, account_id, changes: dict, actor: User | None = None, reason: str = ""
) -> tuple[Account, dict]:
    """Set some of a customer account's limits (`changes`: column -> request value, None
    clearing it); returns the account and `{column: (old, new)}` of what changed. With an
    `actor` (the admin and the API always give one), a change is logged in the account's admin
    history (LogEntry: who, when, each limit's old and new value, why) in the same transaction.
    Under the account's row lock, which every write takes: the change binds the next
    write, never rewrites the past. An overdraft limit below what the account already uses of it
    is refused (the CHECK would fail): lowering the others below current use just declines
    further debits."""
    # Imported here: transactions' services import this module (funding_account_ensure).
    from transactions.usage import has_window_limit, usage_drop, usage_seed

    with transaction.atomic():
        account = Account.objects.select_for_update().filter(id=account_id, is_system=False).first()
        if account is None:
            raise AccountNotFoundError()
        errors, new = {}, {}
        for column, value in changes.items():
            try:
                new[column] = limit_parse(column, value, account.currency)
            except ValueError as exc:
                errors[LIMIT_FIELDS[column]] = [str(exc)]
        overdraft = new.get("overdraft_limit", account.overdraft_limit) or 0
        if not errors and account.balance - account.held < -overdraft:
            in_use = format_minor(account.held - account.balance, account.currency)
            errors["overdraftLimit"] = [f"The account already uses {in_use} of overdraft: set at least that."]
        if errors:
            raise InvalidInputError(errors=errors)
        changed = {column: (getattr(account, column), value) for column, value in new.items()}
        changed = {column: pair for column, pair in changed.items() if pair[0] != pair[1]}
        had_window_limit = has_window_limit(account)
        for column, (_, value) in changed.items():
            setattr(account, column, value)
        if changed:
            account.save(update_fields=[*changed, "updated_at"])
        # Usage rows exist exactly while a window limit does (transactions/usage.py).
        if has_window_limit(account) and not had_window_limit:
            usage_seed(account, timezone.now())
        elif had_window_limit and not has_window_limit(account):
            usage_drop(account)
        if changed and actor is not None:
            message = limits_change_message(account, changed, reason)
            LogEntry.objects.log_actions(actor.id, [account], CHANGE, message, single_object=True)
    return account, changed


def account_freeze(*, account_id) -> Account:
    """FROZEN accounts neither send nor receive; operators use it to stop fraud."""
    return _account_status_change(account_id, allowed_from={Account.Status.ACTIVE}, to=Account.Status.FROZEN)


def account_unfreeze(*, account_id) -> Account:
    return _account_status_change(account_id, allowed_from={Account.Status.FROZEN}, to=Account.Status.ACTIVE)


def account_close(*, account_id) -> Account:
    """Closing is final and only at a zero balance with no PENDING hold on either side: money is
    never stranded in a closed account, and no hold is left that could neither move nor release."""
    return _account_status_change(
        account_id, allowed_from={Account.Status.ACTIVE, Account.Status.FROZEN}, to=Account.Status.CLOSED
    )


def _account_status_change(account_id, *, allowed_from, to) -> Account:
    # The row lock orders this change against transfers, which lock the same row: a close cannot
    # slip between a transfer's balance check and its credit.
    with transaction.atomic():
        account = Account.objects.select_for_update().get(id=account_id)
        if account.status not in allowed_from:
            raise AccountStatusConflictError(f"A {account.status} account cannot become {to}.")
        if to == Account.Status.CLOSED and _has_open_holds(account):
            raise AccountHasOpenHoldsError()
        if to == Account.Status.CLOSED and account.balance != 0:
            raise AccountNotEmptyError()
        account.status = to
        account.save(update_fields=["status", "updated_at"])
    return account


def _has_open_holds(account: Account) -> bool:
    """Under the account's lock, which every hold write also takes, so none appears meanwhile.
    An expired hold counts for nothing: it can no longer be captured, only swept."""
    now = timezone.now()
    return (
        account.outgoing_holds.filter(status="PENDING", expires_at__gt=now).exists()
        or account.incoming_holds.filter(status="PENDING", expires_at__gt=now).exists()
    )


def funding_accounts_ensure(*, owner: User) -> list[Account]:
    """One funding account per supported currency for a system user; idempotent. Funding
    accounts may go negative: they are where money enters the ledger."""
    for currency in settings.SUPPORTED_CURRENCIES:
        funding_account_ensure(owner=owner, currency=currency)
    return list(Account.objects.filter(owner=owner, is_system=True).order_by("currency"))


def funding_account_ensure(*, owner: User, currency: str) -> Account:
    """The system user's funding account in `currency`, made on first use (a currency added to
    SUPPORTED_CURRENCIES after create_system_user ran has none yet)."""
    account, _ = Account.objects.select_related("owner").get_or_create(owner=owner, currency=currency, is_system=True)
    return account
