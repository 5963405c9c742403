"""Daily and monthly usage limits: what counts, what gives back, the decline's details."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AccountUsage
from accounts.services import account_limits_set
from tests.factories import AccountFactory, funded_account, hold, transfer
from transactions.holds import hold_capture, hold_void, holds_expire

from .requests import TRANSACTIONS, transfer_body
from .state import assert_ledger_ok

pytestmark = pytest.mark.django_db


def usage(account):
    return {row.window: (row.amount, row.count) for row in AccountUsage.objects.filter(account=account)}


def test_no_usage_rows_without_a_window_limit(source, target):
    transfer(source, target, "10.00")
    assert usage(source) == {}


def test_a_daily_count_limit_declines_the_next_debit_with_details(auth_client, source, target):
    account_limits_set(account_id=source.id, changes={"daily_debit_count": 2})
    for key in ("a", "b"):
        assert (
            auth_client.post(TRANSACTIONS, transfer_body(source, target, "1.00", key=key), format="json").status_code
            == 201
        )

    response = auth_client.post(TRANSACTIONS, transfer_body(source, target, "1.00", key="c"), format="json")

    assert response.status_code == 422
    details = response.json()["details"]
    tomorrow = (timezone.now().date() + timedelta(days=1)).isoformat()
    assert details == {
        "accountId": str(source.id),
        "limit": "dailyDebitCount",
        "limitValue": 2,
        "window": "day",
        "used": 2,
        "requested": 1,
        "remaining": 0,
        "resetsAt": f"{tomorrow}T00:00:00Z",
    }
    assert usage(source) == {"DAY": (200, 2), "MONTH": (200, 2)}
    assert_ledger_ok()


def test_seeding_counts_todays_history_and_clearing_drops_the_rows(source, target):
    transfer(source, target, "30.00")
    account_limits_set(account_id=source.id, changes={"monthly_debit_amount": "50.00"})
    assert usage(source) == {"DAY": (3000, 1), "MONTH": (3000, 1)}
    assert transfer(source, target, "20.01").failure_reason == "limit_exceeded"
    assert transfer(source, target, "20.00").status == "COMPLETED"
    assert_ledger_ok()
    account_limits_set(account_id=source.id, changes={"monthly_debit_amount": None})
    assert usage(source) == {}


def test_holds_count_when_created_voids_and_expiry_give_back_capture_does_not_count_twice(source, target):
    account_limits_set(account_id=source.id, changes={"daily_debit_amount": "50.00"})
    captured = hold(source, target, "20.00", "h1")
    voided = hold(source, target, "10.00", "h2")
    hold(source, target, "15.00", "h3", expires_in=0)
    assert usage(source)["DAY"] == (4500, 3)
    assert hold(source, target, "5.01", "h4").status == "FAILED"

    hold_capture(initiator=source.owner, hold_id=captured.id, idempotency_key="c1")
    hold_void(initiator=source.owner, hold_id=voided.id, idempotency_key="v1")
    assert holds_expire() == 1

    assert usage(source)["DAY"] == (2000, 1)
    assert_ledger_ok()


def test_the_lazy_expiry_sweep_gives_usage_back(user):
    source = funded_account("20.00", owner=user)
    target = AccountFactory()
    account_limits_set(account_id=source.id, changes={"daily_debit_amount": "100.00"})
    hold(source, target, "20.00", "h1", expires_in=0)

    # Funds are short until the expired hold is swept, inside this transfer's funds check.
    assert transfer(source, target, "20.00").status == "COMPLETED"

    assert usage(source)["DAY"] == (2000, 1)
    assert_ledger_ok()


def test_verify_ledger_finds_a_usage_row_that_does_not_match(source, target):
    from transactions.audit import ledger_verify

    account_limits_set(account_id=source.id, changes={"daily_debit_amount": "100.00"})
    transfer(source, target, "10.00")
    AccountUsage.objects.filter(account=source, window="DAY").update(amount=999)

    report = ledger_verify()

    assert not report.ok
    assert "usage row" in report.summary()


def test_a_limited_transfer_costs_two_statements_more_than_an_unlimited_one(
    user, source, target, django_assert_num_queries
):
    # 6 for any transfer (test_services); the usage read and its upsert only for limited sources.
    assert source.owner == user  # loaded here, so the count below is the service's alone
    account_limits_set(account_id=source.id, changes={"daily_debit_amount": "100.00"})
    with django_assert_num_queries(8):
        transfer(source, target, "1.00")
