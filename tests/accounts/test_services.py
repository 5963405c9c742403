import pytest

from accounts.exceptions import AccountNotEmptyError, AccountStatusConflictError
from accounts.models import Account
from accounts.services import account_close, account_freeze, account_unfreeze
from tests.factories import AccountFactory, funded_account

ACTIVE, FROZEN, CLOSED = Account.Status.ACTIVE, Account.Status.FROZEN, Account.Status.CLOSED
TARGET = {account_freeze: FROZEN, account_unfreeze: ACTIVE, account_close: CLOSED}


@pytest.mark.parametrize(
    "service, before, after",
    [
        (account_freeze, ACTIVE, FROZEN),
        (account_unfreeze, FROZEN, ACTIVE),
        (account_close, ACTIVE, CLOSED),
        (account_close, FROZEN, CLOSED),
    ],
)
def test_status_changes(db, service, before, after):
    account = AccountFactory(status=before)

    returned = service(account_id=account.id)

    assert returned.status == after
    account.refresh_from_db()
    assert account.status == after


@pytest.mark.parametrize(
    "service, before",
    [
        (account_freeze, FROZEN),
        (account_unfreeze, ACTIVE),
        # Closed is final.
        (account_freeze, CLOSED),
        (account_unfreeze, CLOSED),
        (account_close, CLOSED),
    ],
)
def test_status_changes_that_are_not_allowed(db, service, before):
    account = AccountFactory(status=before)

    with pytest.raises(AccountStatusConflictError) as raised:
        service(account_id=account.id)

    assert (raised.value.status_code, raised.value.code) == (409, "account_status_conflict")
    assert raised.value.message == f"A {before} account cannot become {TARGET[service]}."
    account.refresh_from_db()
    assert account.status == before


@pytest.mark.parametrize("before", [ACTIVE, FROZEN])
def test_close_only_at_zero_balance(db, before):
    account = funded_account("0.01")
    if before == FROZEN:
        account_freeze(account_id=account.id)

    with pytest.raises(AccountNotEmptyError) as raised:
        account_close(account_id=account.id)

    assert (raised.value.status_code, raised.value.code) == (409, "account_not_empty")
    assert raised.value.message == AccountNotEmptyError.message
    account.refresh_from_db()
    assert account.status == before
