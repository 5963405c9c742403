import pytest
from django.contrib.messages import get_messages
from django.test import Client

from accounts.exceptions import AccountNotEmptyError
from accounts.models import Account
from tests.factories import AccountFactory, UserFactory, funded_account

CHANGELIST = "/admin/accounts/account/"
ACTIVE, FROZEN, CLOSED = Account.Status.ACTIVE, Account.Status.FROZEN, Account.Status.CLOSED


@pytest.fixture
def admin_client(db):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def run_action(admin_client, action, accounts):
    return admin_client.post(
        CHANGELIST, {"action": action, "_selected_action": [str(a.id) for a in accounts], "index": 0}, follow=True
    )


@pytest.mark.parametrize(
    "action, before, after",
    [
        ("account_freeze_action", ACTIVE, FROZEN),
        ("account_unfreeze_action", FROZEN, ACTIVE),
        ("account_close_action", FROZEN, CLOSED),
    ],
)
def test_status_actions(admin_client, action, before, after):
    accounts = AccountFactory.create_batch(2, status=before)
    untouched = AccountFactory(status=before)

    response = run_action(admin_client, action, accounts)

    assert response.status_code == 200
    assert {a.status for a in Account.objects.filter(id__in=[a.id for a in accounts])} == {after}
    untouched.refresh_from_db()
    assert untouched.status == before


def test_close_action_reports_accounts_that_are_not_empty(admin_client):
    empty, funded = AccountFactory(), funded_account("1.00")

    response = run_action(admin_client, "account_close_action", [empty, funded])

    statuses = dict(Account.objects.filter(id__in=[empty.id, funded.id]).values_list("id", "status"))
    assert statuses == {empty.id: CLOSED, funded.id: ACTIVE}
    assert f"{funded.id}: {AccountNotEmptyError.message}" in [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize(
    "path",
    [
        CHANGELIST,
        CHANGELIST + "{account}/change/",
        "/admin/authn/user/",
        "/admin/authn/user/{owner}/change/",
        "/admin/notifications/outboxemail/",
    ],
)
def test_admin_pages_render(admin_client, path):
    account = funded_account("500.50")

    response = admin_client.get(path.format(account=account.id, owner=account.owner_id))

    assert response.status_code == 200
    if "{account}" in path or path == CHANGELIST:
        assert b"500.50 INR" in response.content
