"""PATCH /api/accounts/{id}/limits (system users) and the limits in the owner's account JSON."""

import pytest
from django.contrib.admin.models import LogEntry
from django.test import override_settings

from accounts.models import Account
from accounts.services import account_open
from tests.factories import AccountFactory, funded_account

pytestmark = pytest.mark.django_db


def limits_url(account):
    return f"/api/accounts/{account.id}/limits"


def test_a_system_user_sets_and_clears_limits_and_the_owner_sees_them(system_client, system_user, auth_client, user):
    account = AccountFactory(owner=user, currency="INR", per_transfer_max=100)

    response = system_client.patch(
        limits_url(account),
        {"overdraftLimit": "50", "dailyDebitCount": 7, "maxBalance": "1000.50", "perTransferMax": None},
        format="json",
    )

    assert response.status_code == 200, response.content
    limits = {
        "overdraftLimit": "50.00",
        "maxBalance": "1000.50",
        "perTransferMax": None,
        "dailyDebitAmount": None,
        "dailyDebitCount": 7,
        "monthlyDebitAmount": None,
    }
    assert response.json() == {"accountId": str(account.id), "currency": "INR", "limits": limits}
    account.refresh_from_db()
    assert (account.overdraft_limit, account.max_balance, account.per_transfer_max) == (5000, 100050, None)
    assert auth_client.get(f"/api/accounts/{account.id}").json()["account"]["limits"] == limits
    assert auth_client.get(f"/api/accounts/{account.id}").json()["account"]["available"] == "50.00"
    entry = LogEntry.objects.get(object_id=str(account.id))
    assert entry.user == system_user
    assert entry.change_message == (
        "Limits changed: overdraftLimit none → 50.00, dailyDebitCount none → 7, maxBalance none → 1000.50, "
        "perTransferMax 1.00 → none. Reason: set through PATCH /api/accounts/{id}/limits"
    )


def test_others_cannot_set_limits_or_see_them(auth_client, other_client, user):
    account = AccountFactory(owner=user, max_balance=100)

    assert auth_client.patch(limits_url(account), {"maxBalance": "1"}, format="json").status_code == 403
    assert other_client.patch(limits_url(account), {"maxBalance": "1"}, format="json").json()["code"] == (
        "not_system_user"
    )
    assert other_client.get(f"/api/accounts/{account.id}").status_code == 404
    assert Account.objects.get(id=account.id).max_balance == 100


@pytest.mark.parametrize(
    "body",
    [
        {},
        [],
        "x",
        {"overdraft": "1"},
        {"maxBalance": "-1"},
        {"maxBalance": "1.001"},
        {"maxBalance": {"value": 1}},
        {"maxBalance": True},
        {"maxBalance": "1e3"},
        {"maxBalance": "9" * 40},
        {"maxBalance": "99999999999999999999"},
        {"dailyDebitCount": "7"},
        {"dailyDebitCount": -1},
        {"dailyDebitCount": 2**63},
    ],
)
def test_bad_limits_are_400_and_change_nothing(system_client, user, body):
    account = AccountFactory(owner=user, max_balance=100)

    response = system_client.patch(limits_url(account), body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"
    assert Account.objects.get(id=account.id).max_balance == 100


def test_unknown_and_funding_accounts_are_404(system_client, system_user):
    funding = AccountFactory(owner=system_user, is_system=True, currency="USD")
    assert system_client.patch(limits_url(funding), {"maxBalance": "1"}, format="json").status_code == 404
    missing = "/api/accounts/00000000-0000-0000-0000-000000000000/limits"
    assert system_client.patch(missing, {"maxBalance": "1"}, format="json").status_code == 404


def test_an_overdraft_limit_below_what_is_already_used_is_refused(system_client, user):
    account = funded_account("1.00", owner=user, overdraft_limit=5000)
    Account.objects.filter(id=account.id).update(balance=-3000)

    response = system_client.patch(limits_url(account), {"overdraftLimit": "20.00"}, format="json")

    assert response.status_code == 400
    assert "overdraftLimit" in response.json()["errors"]
    assert system_client.patch(limits_url(account), {"overdraftLimit": "30.00"}, format="json").status_code == 200


@override_settings(
    ACCOUNT_DEFAULT_LIMITS={
        "overdraft_limit": None,
        "max_balance": "100000",
        "per_transfer_max": None,
        "daily_debit_amount": "500.50",
        "daily_debit_count": 10,
        "monthly_debit_amount": None,
    }
)
def test_new_accounts_start_with_the_default_limits(user):
    account = account_open(owner=user, currency="USD")
    assert (account.max_balance, account.daily_debit_amount, account.daily_debit_count) == (10000000, 50050, 10)
    assert account.overdraft_limit is None
