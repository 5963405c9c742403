"""Per-account limits on transfers and holds (API.md, "Limits and simple fraud rules"): the
overdraft floor, maxBalance, perTransferMax, their declines and what the database refuses."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from accounts.models import Account
from tests.factories import AccountFactory, funded_account
from transactions.exceptions import InsufficientFundsError, LimitExceededError
from transactions.models import Hold, Transaction
from transactions.services import funding_create, transaction_reverse

from .requests import TRANSACTIONS, transfer_body
from .state import assert_ledger_ok, balances

pytestmark = pytest.mark.django_db

HOLDS = "/api/holds"


def limit(account, **limits):
    Account.objects.filter(id=account.id).update(**limits)
    account.refresh_from_db()
    return account


def test_an_overdraft_limit_lets_the_balance_go_below_zero_down_to_it(auth_client, source, target):
    limit(source, overdraft_limit=5000)  # 50.00

    response = auth_client.post(TRANSACTIONS, transfer_body(source, target, "150.00"), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["balances"][str(source.id)] == {
        "balance": "-50.00",
        "held": "0.00",
        "available": "0.00",
    }
    assert balances(source, target) == [-5000, 15000]
    assert_ledger_ok()


def test_beyond_the_overdraft_limit_is_insufficient_funds_counting_the_floor(auth_client, source, target):
    limit(source, overdraft_limit=5000)

    response = auth_client.post(TRANSACTIONS, transfer_body(source, target, "150.01"), format="json")

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == InsufficientFundsError.code
    assert body["details"] == {
        "accountId": str(source.id),
        "currency": "INR",
        "available": "150.00",
        "requested": "150.01",
        "shortfall": "0.01",
        "overdraftLimit": "50.00",
    }
    assert balances(source, target) == [10000, 0]


def test_per_transfer_max_declines_a_larger_transfer_as_failed_and_replays_it(auth_client, source, target):
    limit(source, per_transfer_max=2000)

    response = auth_client.post(TRANSACTIONS, transfer_body(source, target, "20.01", key="big"), format="json")

    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == LimitExceededError.code
    assert body["details"] == {
        "accountId": str(source.id),
        "limit": "perTransferMax",
        "limitValue": "20.00",
        "window": None,
        "used": "0.00",
        "requested": "20.01",
        "remaining": "20.00",
        "resetsAt": None,
    }
    txn = Transaction.objects.get(kind="TRANSFER")
    assert (txn.status, txn.failure_reason) == ("FAILED", "limit_exceeded")
    replay = auth_client.post(TRANSACTIONS, transfer_body(source, target, "20.01", key="big"), format="json")
    assert replay.status_code == 422
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["code"] == LimitExceededError.code
    ok = auth_client.post(TRANSACTIONS, transfer_body(source, target, "20.00", key="ok"), format="json")
    assert ok.status_code == 201
    assert_ledger_ok()


def test_max_balance_declines_a_credit_past_it_and_shows_details_only_to_its_owner(
    auth_client, other_client, user, other_user, source, target
):
    limit(target, max_balance=5000)

    response = auth_client.post(TRANSACTIONS, transfer_body(source, target, "50.01"), format="json")

    assert response.status_code == 422
    # The destination is someone else's: nothing about it leaks to the sender.
    assert response.json()["code"] == LimitExceededError.code
    assert "details" not in response.json()
    assert (
        auth_client.post(TRANSACTIONS, transfer_body(source, target, "50.00", key="k2"), format="json").status_code
        == 201
    )
    assert balances(target) == [5000]

    # The owner sending to their own limited account sees its details.
    own = AccountFactory(owner=user, max_balance=1000)
    declined = auth_client.post(TRANSACTIONS, transfer_body(source, own, "10.01", key="k3"), format="json")
    assert declined.json()["details"]["limit"] == "maxBalance"
    assert declined.json()["details"]["remaining"] == "10.00"


def test_funding_and_reversals_are_exempt_from_limits(system_user, user):
    account = AccountFactory(owner=user, max_balance=100, per_transfer_max=1)
    funding = funding_create(
        initiator=system_user, to_account_id=account.id, amount=Decimal("5.00"), idempotency_key="f1"
    )
    assert funding.transaction.status == "COMPLETED"
    reversal = transaction_reverse(initiator=system_user, transaction_id=funding.transaction.id, idempotency_key="r1")
    assert reversal.transaction.status == "COMPLETED"
    assert_ledger_ok()


def test_a_hold_past_per_transfer_max_is_a_failed_hold(auth_client, source, target):
    limit(source, per_transfer_max=1000)

    response = auth_client.post(
        HOLDS,
        {"fromAccount": str(source.id), "toAccount": str(target.id), "amount": "10.01", "idempotencyKey": "h"},
        format="json",
    )

    assert response.status_code == 422
    assert response.json()["code"] == LimitExceededError.code
    assert response.json()["details"]["limit"] == "perTransferMax"
    assert Hold.objects.get().status == "FAILED"
    assert Account.objects.get(id=source.id).held == 0


def test_a_hold_may_reserve_into_the_overdraft(auth_client, source, target):
    limit(source, overdraft_limit=1000)

    response = auth_client.post(
        HOLDS,
        {"fromAccount": str(source.id), "toAccount": str(target.id), "amount": "110.00", "idempotencyKey": "h"},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["balances"][str(source.id)]["available"] == "0.00"
    assert_ledger_ok()


def test_the_database_refuses_a_balance_below_the_overdraft_floor(user):
    account = funded_account("10.00", owner=user, overdraft_limit=500)
    Account.objects.filter(id=account.id).update(balance=-500, held=0)  # the floor itself is fine
    with pytest.raises(IntegrityError, match="account_available_within_overdraft"), transaction.atomic():
        Account.objects.filter(id=account.id).update(balance=-501)
    with pytest.raises(IntegrityError, match="account_limits_non_negative"), transaction.atomic():
        Account.objects.filter(id=account.id).update(max_balance=-1)


def test_a_capture_checks_only_the_destinations_max_balance_again(user, other_user):
    from decimal import Decimal as D

    from tests.factories import hold
    from transactions.holds import hold_capture

    source = funded_account("100.00", owner=user)
    target = AccountFactory(owner=other_user)
    first, second = hold(source, target, "30.00", "h1"), hold(source, target, "30.00", "h2")
    limit(source, per_transfer_max=100)  # lowered after the holds: they stand
    limit(target, max_balance=4000)

    assert hold_capture(initiator=user, hold_id=first.id, idempotency_key="c1").hold.status == "CAPTURED"
    with pytest.raises(LimitExceededError) as refused:
        hold_capture(initiator=user, hold_id=second.id, idempotency_key="c2", amount=D("10.01"))

    assert "details" not in refused.value.extra  # the destination is not the capturer's
    assert Hold.objects.get(id=second.id).status == "PENDING"
    assert_ledger_ok()
