"""Amounts are never rounded: more places than the currency has is a 400, however many digits
the client sends (Decimal's 28-digit context would round them into a valid amount)."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.money import BALANCE_MAX, BALANCE_MIN, MAX_AMOUNT_TEXT_LENGTH, currency_exponent, format_minor, to_minor
from tests.factories import AccountFactory, funded_account
from tests.transactions.requests import FUNDING, TRANSACTIONS
from tests.transactions.state import balances
from tests.transactions.test_amounts import raw_body
from transactions.models import Transaction

ALMOST = [
    "0.999999999999999999999999999999",  # 30 nines: was 1.00
    "999999999.9999999999999999999999",  # was 1,000,000,000.00, the cap itself
    "1.000000000000000000000000000001",  # was 1.00
    "0.000000000000000000000000000001",
]


@pytest.mark.parametrize("amount", ALMOST)
@pytest.mark.parametrize("as_json", ["string", "number"])
def test_an_amount_with_more_places_than_its_currency_is_refused(auth_client, user, other_user, amount, as_json):
    assert len(amount) <= MAX_AMOUNT_TEXT_LENGTH  # refused for its places, not its length
    source, target = funded_account("100.00", owner=user), AccountFactory(owner=other_user)
    literal = amount if as_json == "number" else f'"{amount}"'

    response = auth_client.post(
        TRANSACTIONS, data=raw_body(source.id, target.id, literal), content_type="application/json"
    )

    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {"amount": ["INR amounts have at most 2 decimal places."]}
    assert not Transaction.objects.filter(kind=Transaction.Kind.TRANSFER).exists()
    assert balances(source, target) == [100_00, 0]


@pytest.mark.parametrize("amount", ALMOST)
def test_a_funding_is_never_rounded_either(system_client, account, amount):
    response = system_client.post(
        FUNDING, {"toAccount": str(account.id), "amount": amount, "idempotencyKey": "k"}, format="json"
    )

    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["amount"]
    assert balances(account) == [0]


@pytest.mark.parametrize(
    "amount, currency, minor",
    [
        ("1.000", "INR", 100),
        ("1000.0", "INR", 100000),
        ("5.0", "JPY", 5),
        ("1.234", "KWD", 1234),
        ("1E+3", "INR", 100000),
    ],
)
def test_trailing_zeros_are_not_places(amount, currency, minor):
    assert to_minor(Decimal(amount), currency) == minor


@given(minor=st.integers(min_value=BALANCE_MIN, max_value=BALANCE_MAX), currency=st.sampled_from(["INR", "JPY", "KWD"]))
def test_format_minor_is_decimal_quantize_over_the_whole_balance_range(minor, currency):
    """format_minor formats with integers (it runs for every amount of a batch's answer); it must
    print exactly what Decimal's quantize prints, minus sign, zero and bigint limits included."""
    exponent = currency_exponent(currency)
    assert format_minor(minor, currency) == str(Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent)))
    assert to_minor(Decimal(format_minor(abs(minor), currency)), currency) == abs(minor)
