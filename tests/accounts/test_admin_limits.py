"""Operators set an account's limits in the admin: validated, with a reason, logged."""

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from accounts.models import Account
from tests.factories import AccountFactory, UserFactory

LIMITS_PAGE = "/admin/accounts/account/{id}/limits/"
EMPTY = {
    "overdraft_limit": "",
    "max_balance": "",
    "per_transfer_max": "",
    "daily_debit_amount": "",
    "daily_debit_count": "",
    "monthly_debit_amount": "",
}


@pytest.fixture
def operator(db):
    return UserFactory(is_staff=True, is_superuser=True, email="operator@ledger.local")


@pytest.fixture
def admin_client(operator):
    client = Client(raise_request_exception=False)
    client.force_login(operator)
    return client


def test_limits_are_set_with_a_reason_and_logged(admin_client, operator):
    account = AccountFactory(max_balance=100)

    assert admin_client.get(LIMITS_PAGE.format(id=account.id)).status_code == 200
    response = admin_client.post(
        LIMITS_PAGE.format(id=account.id),
        {**EMPTY, "max_balance": "2500.50", "daily_debit_count": "3", "reason": "KYC tier 2"},
    )

    assert response.status_code == 302, response.content
    account.refresh_from_db()
    assert (account.max_balance, account.daily_debit_count) == (250050, 3)
    entry = LogEntry.objects.get(object_id=str(account.id))
    assert entry.user == operator
    assert entry.change_message == (
        "Limits changed: maxBalance 1.00 → 2500.50, dailyDebitCount none → 3. Reason: KYC tier 2"
    )
    change_page = admin_client.get(f"/admin/accounts/account/{account.id}/change/")
    assert "maxBalance 2500.50" in change_page.content.decode()


@pytest.mark.parametrize(
    "values",
    [
        {"max_balance": "-1", "reason": "x"},
        {"max_balance": "1.001", "reason": "x"},
        {"max_balance": "lots", "reason": "x"},
        {"daily_debit_count": "-1", "reason": "x"},
        {"daily_debit_count": "99999999999999999999", "reason": "x"},
        {"max_balance": "5"},  # no reason
    ],
)
def test_bad_values_come_back_in_words_and_change_nothing(admin_client, values):
    account = AccountFactory(max_balance=100)

    response = admin_client.post(LIMITS_PAGE.format(id=account.id), {**EMPTY, "max_balance": "1.00", **values})

    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert Account.objects.get(id=account.id).max_balance == 100
    assert not LogEntry.objects.exists()


def test_a_forged_or_funding_id_is_404_and_non_staff_are_kept_out(admin_client, db):
    system = UserFactory(is_system=True)
    funding = AccountFactory(owner=system, is_system=True, currency="USD")
    assert admin_client.get(LIMITS_PAGE.format(id="not-a-uuid")).status_code == 404
    assert admin_client.get(LIMITS_PAGE.format(id=funding.id)).status_code == 404
    staff = UserFactory(is_staff=True)
    client = Client(raise_request_exception=False)
    client.force_login(staff)
    account = AccountFactory()
    assert client.post(LIMITS_PAGE.format(id=account.id), {**EMPTY, "reason": "x"}).status_code == 403
