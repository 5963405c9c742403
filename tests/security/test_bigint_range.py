"""Balances are PostgreSQL bigints of minor units: a write that would leave that range is a
declined transaction (422 `amount_out_of_range`), never a 500, and MAX_TRANSFER_AMOUNT is
checked at start-up so that no single amount comes near it."""

import os
import subprocess
import sys
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection

from accounts.checks import max_transfer_amount_check
from accounts.money import BALANCE_MAX, BALANCE_MIN
from notifications.models import OutboxEmail
from tests.conftest import bearer_client
from tests.factories import AccountFactory, funded_account
from tests.transactions.requests import FUNDING, TRANSACTIONS, transfer_body
from tests.transactions.state import balances
from transactions.exceptions import AmountOutOfRangeError
from transactions.models import LedgerEntry, Transaction


def _set_balance(account, minor):
    """Raw SQL, as years of fundings would leave it (no trigger guards accounts.balance)."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_account SET balance = %s WHERE id = %s", [minor, account.id])


@pytest.fixture
def funding_account(system_user):
    return AccountFactory(owner=system_user, is_system=True)


def _assert_declined_and_nothing_else_written(response, accounts, before, key):
    assert response.status_code == 422, response.content
    body = response.json()
    assert (body["code"], body["message"]) == (AmountOutOfRangeError.code, AmountOutOfRangeError.message)
    assert (body["transaction"]["status"], body["transaction"]["failureReason"]) == ("FAILED", "amount_out_of_range")
    assert body["transaction"]["entries"] == []
    txn = Transaction.objects.get(idempotency__key=key)
    assert (txn.status, txn.failure_reason) == ("FAILED", "amount_out_of_range")
    assert not LedgerEntry.objects.filter(transaction=txn).exists()
    assert not OutboxEmail.objects.filter(body__contains=str(txn.id)).exists()
    assert balances(*accounts) == before


def test_a_funding_past_the_funding_accounts_floor_is_declined(system_client, funding_account, account):
    _set_balance(funding_account, BALANCE_MIN + 50)
    body = {"toAccount": str(account.id), "amount": "0.51", "idempotencyKey": "k"}

    response = system_client.post(FUNDING, body, format="json")

    _assert_declined_and_nothing_else_written(response, [funding_account, account], [BALANCE_MIN + 50, 0], "k")


@pytest.mark.parametrize("side", ["funding account to the floor", "customer to the ceiling"])
def test_a_funding_up_to_the_limit_itself_goes_through(system_client, funding_account, account, side):
    near_limit = funding_account if side.startswith("funding") else account
    _set_balance(near_limit, BALANCE_MIN + 50 if near_limit is funding_account else BALANCE_MAX - 50)
    before = balances(funding_account, account)

    response = system_client.post(
        FUNDING, {"toAccount": str(account.id), "amount": "0.50", "idempotencyKey": "k"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert balances(funding_account, account) == [before[0] - 50, before[1] + 50]
    assert BALANCE_MIN in balances(funding_account) or BALANCE_MAX in balances(account)


def test_a_funding_past_a_customers_ceiling_is_declined(system_client, funding_account, account):
    _set_balance(account, BALANCE_MAX - 50)
    body = {"toAccount": str(account.id), "amount": "0.51", "idempotencyKey": "k"}

    response = system_client.post(FUNDING, body, format="json")

    _assert_declined_and_nothing_else_written(response, [funding_account, account], [0, BALANCE_MAX - 50], "k")


def test_a_transfer_past_a_customers_ceiling_is_declined(user, other_user):
    source, target = funded_account("10.00", owner=user), AccountFactory(owner=other_user)
    _set_balance(target, BALANCE_MAX - 50)

    response = bearer_client(user).post(TRANSACTIONS, transfer_body(source, target, "0.51", "k"), format="json")

    _assert_declined_and_nothing_else_written(response, [source, target], [10_00, BALANCE_MAX - 50], "k")


def test_the_decline_is_in_the_schema():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)

    assert "amount_out_of_range" in schema["components"]["schemas"]["FailureReasonEnum"]["enum"]
    assert "`amount_out_of_range`" in schema["paths"][TRANSACTIONS]["post"]["responses"]["422"]["description"]


# --- MAX_TRANSFER_AMOUNT at start-up ----------------------------------------------------------


@pytest.mark.parametrize(
    "cap, currencies, fits",
    [
        ("1000000000.00", ["INR", "USD", "BDT"], True),
        ("10000000000000", ["INR"], True),  # 10^15 paise: the largest allowed
        ("10000000000000.01", ["INR"], False),
        ("1000000000000", ["KWD"], True),  # three places: 10^15 fils
        ("1000000000001", ["INR", "KWD"], False),
        ("92233720368547758", ["INR"], False),  # a bigint of paise, as the raised cap
        ("0", ["INR"], False),
        ("-5", ["INR"], False),
        ("NaN", ["INR"], False),
        ("Infinity", ["INR"], False),
    ],
)
def test_max_transfer_amount_must_fit_every_currency(settings, cap, currencies, fits):
    settings.MAX_TRANSFER_AMOUNT = Decimal(cap)
    settings.SUPPORTED_CURRENCIES = currencies

    errors = max_transfer_amount_check(None)

    assert (errors == []) == fits, errors
    assert all("MAX_TRANSFER_AMOUNT" in error.msg for error in errors)


@pytest.mark.parametrize(
    "cap, message",
    [
        ("abc", "MAX_TRANSFER_AMOUNT must be a decimal number, like 1000000000.00."),
        ("0", "MAX_TRANSFER_AMOUNT must be a positive amount, like 1000000000.00 (it is 0)."),
        ("1e17", "MAX_TRANSFER_AMOUNT 1E+17 is too large for INR: at most 10000000000000"),
    ],
)
def test_an_invalid_cap_refuses_to_start_with_a_clear_message(cap, message):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ledger_project.settings.test", "MAX_TRANSFER_AMOUNT": cap}

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert message in result.stderr
