"""Amounts are read exactly: plain decimal text or a JSON number kept as its literal text
(ledger_project.parsers), never a float. Bodies are sent as raw JSON so that JSON numbers reach
the parser as the client wrote them."""

import json

import pytest
from django.conf import settings

from accounts.models import Account
from accounts.money import AMOUNT_FORMAT_MESSAGE
from tests.factories import AccountFactory, funded_account
from transactions.models import IdempotencyKey, Transaction

from .requests import FUNDING, TRANSACTIONS
from .state import assert_ledger_ok

POSITIVE = "The amount must be greater than zero."
INR_PLACES = "INR amounts have at most 2 decimal places."
ABOVE_MAX = f"The amount must not exceed {settings.MAX_TRANSFER_AMOUNT}."
NOT_NULL = "This field may not be null."


def raw_body(source_id, target_id, amount_json: str, key="k") -> str:
    """The request body with `amount_json` pasted in verbatim (a JSON literal)."""
    return f'{{"fromAccount": "{source_id}", "toAccount": "{target_id}", "amount": {amount_json}, "idempotencyKey": "{key}"}}'


@pytest.fixture
def source(user):
    return funded_account("1000.00", owner=user)


BAD_AMOUNTS = [
    # (amount as a JSON literal, the message under errors.amount)
    ('"1e3"', AMOUNT_FORMAT_MESSAGE),
    ("1e3", AMOUNT_FORMAT_MESSAGE),
    ("1E3", AMOUNT_FORMAT_MESSAGE),
    ("1.5e2", AMOUNT_FORMAT_MESSAGE),
    ('" 10 "', AMOUNT_FORMAT_MESSAGE),
    ('"10 "', AMOUNT_FORMAT_MESSAGE),
    ('"+5"', AMOUNT_FORMAT_MESSAGE),
    ('"10_000"', AMOUNT_FORMAT_MESSAGE),
    ('"1,000"', AMOUNT_FORMAT_MESSAGE),
    (json.dumps("１０"), AMOUNT_FORMAT_MESSAGE),
    (json.dumps("١٠"), AMOUNT_FORMAT_MESSAGE),
    ('"0"', POSITIVE),
    ('"0.00"', POSITIVE),
    ("0", POSITIVE),
    ("0.0", POSITIVE),
    ('"-5"', AMOUNT_FORMAT_MESSAGE),
    ("-5", AMOUNT_FORMAT_MESSAGE),
    ("-0.5", AMOUNT_FORMAT_MESSAGE),
    ('""', AMOUNT_FORMAT_MESSAGE),
    ("true", AMOUNT_FORMAT_MESSAGE),
    ("false", AMOUNT_FORMAT_MESSAGE),
    ("null", NOT_NULL),
    ('"NaN"', AMOUNT_FORMAT_MESSAGE),
    ('"Infinity"', AMOUNT_FORMAT_MESSAGE),
    ('"-Infinity"', AMOUNT_FORMAT_MESSAGE),
    ('"1.001"', INR_PLACES),
    ("1.001", INR_PLACES),
    ('"0.001"', INR_PLACES),
    ("0.30000000000000004", INR_PLACES),
    ("1000000000.01", ABOVE_MAX),
    ('"1000000000.01"', ABOVE_MAX),
    ("10000000000", ABOVE_MAX),
    ('"abc"', AMOUNT_FORMAT_MESSAGE),
    ("[]", AMOUNT_FORMAT_MESSAGE),
    ("[5]", AMOUNT_FORMAT_MESSAGE),
    ("{}", AMOUNT_FORMAT_MESSAGE),
    ('"00.5"', AMOUNT_FORMAT_MESSAGE),
    ('"05"', AMOUNT_FORMAT_MESSAGE),
    ('".5"', AMOUNT_FORMAT_MESSAGE),
    ('"5."', AMOUNT_FORMAT_MESSAGE),
    (json.dumps("1" * 33), AMOUNT_FORMAT_MESSAGE),
    ('"0x10"', AMOUNT_FORMAT_MESSAGE),
    ('"10\\n"', AMOUNT_FORMAT_MESSAGE),
]


@pytest.mark.parametrize("amount_json, message", BAD_AMOUNTS, ids=[case[0] for case in BAD_AMOUNTS])
def test_bad_transfer_amounts(auth_client, source, target, amount_json, message):
    response = auth_client.post(
        TRANSACTIONS, data=raw_body(source.id, target.id, amount_json), content_type="application/json"
    )

    assert response.status_code == 400, response.content
    assert response.json() == {"message": "Invalid input.", "code": "validation_error", "errors": {"amount": [message]}}
    assert not Transaction.objects.filter(kind=Transaction.Kind.TRANSFER).exists()
    assert not IdempotencyKey.objects.filter(key="k").exists()
    assert Account.objects.get(id=source.id).balance == 1000_00


@pytest.mark.parametrize("amount_json, message", BAD_AMOUNTS, ids=[case[0] for case in BAD_AMOUNTS])
def test_bad_funding_amounts(system_client, target, amount_json, message):
    body = f'{{"toAccount": "{target.id}", "amount": {amount_json}, "idempotencyKey": "k"}}'

    response = system_client.post(FUNDING, data=body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {"amount": [message]}
    assert not Transaction.objects.filter(to_account=target).exists()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "5.", ".5", "05", "1e", "0x10"])
def test_amounts_that_are_not_json(auth_client, source, target, literal):
    response = auth_client.post(
        TRANSACTIONS, data=raw_body(source.id, target.id, literal), content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json() == {"message": "Malformed JSON body.", "code": "validation_error"}
    assert not Transaction.objects.filter(kind=Transaction.Kind.TRANSFER).exists()


@pytest.mark.parametrize(
    "amount_json, wire, minor",
    [
        ("500", "500.00", 500_00),
        ("500.5", "500.50", 500_50),
        ("0.1", "0.10", 10),
        ("0.01", "0.01", 1),
        ("123.45", "123.45", 123_45),
        ('"500"', "500.00", 500_00),
        ('"500.5"', "500.50", 500_50),
        ('"500.50"', "500.50", 500_50),
        ('"0.10"', "0.10", 10),
        ('"999.99"', "999.99", 999_99),
        ("1000.0", "1000.00", 1000_00),
    ],
)
def test_exact_amounts_are_accepted(auth_client, source, target, amount_json, wire, minor):
    response = auth_client.post(
        TRANSACTIONS, data=raw_body(source.id, target.id, amount_json), content_type="application/json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["transaction"]["amount"] == wire
    assert Transaction.objects.get(kind=Transaction.Kind.TRANSFER).amount == minor
    assert Account.objects.get(id=source.id).balance == 1000_00 - minor
    assert Account.objects.get(id=target.id).balance == minor
    assert_ledger_ok()


@pytest.mark.parametrize("amount_json", ["1000000000", "1000000000.00", '"1000000000.00"'])
def test_the_maximum_amount_is_allowed(auth_client, user, target, amount_json):
    rich = funded_account(str(settings.MAX_TRANSFER_AMOUNT), owner=user)

    response = auth_client.post(
        TRANSACTIONS, data=raw_body(rich.id, target.id, amount_json), content_type="application/json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["transaction"]["amount"] == "1000000000.00"
    assert Account.objects.get(id=target.id).balance == 1_000_000_000_00
    assert_ledger_ok()


def test_places_follow_the_currency(auth_client, user, other_user):
    # BDT and USD have 2 places like INR; the places check reads the account's currency.
    dollars = funded_account("10.00", owner=user, currency="USD")
    theirs = AccountFactory(owner=other_user, currency="USD")

    bad = auth_client.post(
        TRANSACTIONS, data=raw_body(dollars.id, theirs.id, '"0.005"'), content_type="application/json"
    )
    good = auth_client.post(
        TRANSACTIONS, data=raw_body(dollars.id, theirs.id, '"0.05"', key="k2"), content_type="application/json"
    )

    assert bad.status_code == 400
    assert bad.json()["errors"] == {"amount": ["USD amounts have at most 2 decimal places."]}
    assert good.status_code == 201, good.content
    assert good.json()["transaction"]["amount"] == "0.05"
    assert Account.objects.get(id=theirs.id).balance == 5
