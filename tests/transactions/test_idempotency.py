"""Idempotency keys: scoped per user, one outcome per key, replayed with Idempotent-Replayed."""

import pytest

from tests.factories import AccountFactory, account_fund, funded_account
from transactions.apis import REPLAYED, REPLAYED_REVERSED, TRANSFER_COMPLETED
from transactions.exceptions import IdempotencyKeyReusedError, InsufficientFundsError
from transactions.models import IdempotencyKey, LedgerEntry, Transaction

from .requests import TRANSACTIONS, reverse_url, transfer_body
from .responses import balances_json, decline_json, transaction_json
from .state import assert_ledger_ok, balances, outbox_mark, outbox_since, transfers

REPLAY_HEADER = "Idempotent-Replayed"


def test_sequential_replay(auth_client, user, source, target):
    first = auth_client.post(TRANSACTIONS, transfer_body(source, target, "40.00", key="once"), format="json")
    mark = outbox_mark()

    again = auth_client.post(TRANSACTIONS, transfer_body(source, target, "40.00", key="once"), format="json")

    assert first.status_code == 201, first.content
    assert REPLAY_HEADER not in first.headers
    assert again.status_code == 200, again.content
    assert again.headers[REPLAY_HEADER] == "true"
    txn = transfers().get()
    assert again.json() == {
        "message": REPLAYED,
        "transaction": transaction_json(txn, viewer=user),
        "balances": balances_json(source),
    }
    assert again.json()["transaction"] == first.json()["transaction"]
    assert first.json()["message"] == TRANSFER_COMPLETED
    assert balances(source, target) == [60_00, 40_00]
    assert LedgerEntry.objects.filter(transaction=txn).count() == 2
    assert outbox_since(mark) == []  # nobody is told twice
    assert_ledger_ok()


@pytest.mark.parametrize("amount", ["40", "40.0", 40])
def test_the_same_amount_written_differently_is_the_same_request(auth_client, source, target, amount):
    auth_client.post(TRANSACTIONS, transfer_body(source, target, "40.00", key="once"), format="json")

    again = auth_client.post(TRANSACTIONS, transfer_body(source, target, amount, key="once"), format="json")

    assert again.status_code == 200, again.content
    assert transfers().count() == 1


def test_replay_of_a_decline(auth_client, user, source, target):
    first = auth_client.post(TRANSACTIONS, transfer_body(source, target, "500.00", key="big"), format="json")

    again = auth_client.post(TRANSACTIONS, transfer_body(source, target, "500.00", key="big"), format="json")

    assert first.status_code == 422
    assert REPLAY_HEADER not in first.headers
    assert again.status_code == 422
    assert again.headers[REPLAY_HEADER] == "true"
    assert again.json() == first.json()
    txn = transfers().get()
    details = {"accountId": str(source.id), "currency": "INR", "available": "100.00"}
    details |= {"requested": "500.00", "shortfall": "400.00", "overdraftLimit": "0.00"}
    assert again.json() == decline_json(InsufficientFundsError, txn, viewer=user, details=details)
    assert txn.status == Transaction.Status.FAILED


def test_a_spent_key_stays_declined_even_once_funds_arrive(auth_client, source, target):
    """The key names one outcome: a retry with the same key must not turn a decline into money."""
    auth_client.post(TRANSACTIONS, transfer_body(source, target, "150.00", key="big"), format="json")
    account_fund(source, "100.00")

    again = auth_client.post(TRANSACTIONS, transfer_body(source, target, "150.00", key="big"), format="json")
    fresh = auth_client.post(TRANSACTIONS, transfer_body(source, target, "150.00", key="big-2"), format="json")

    assert again.status_code == 422
    assert again.headers[REPLAY_HEADER] == "true"
    assert fresh.status_code == 201, fresh.content
    assert balances(source, target) == [50_00, 150_00]
    assert_ledger_ok()


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "40.01"},
        {"toAccount": "other target"},
        {"fromAccount": "other source"},
    ],
    ids=["amount", "toAccount", "fromAccount"],
)
def test_same_key_with_a_different_body(auth_client, user, other_user, source, target, change):
    other_source = funded_account("100.00", owner=user)
    other_target = AccountFactory(owner=other_user)
    first = auth_client.post(TRANSACTIONS, transfer_body(source, target, "40.00", key="k"), format="json")
    body = transfer_body(source, target, "40.00", key="k")
    substitutes = {"other target": str(other_target.id), "other source": str(other_source.id)}
    body.update({field: substitutes.get(value, value) for field, value in change.items()})

    response = auth_client.post(TRANSACTIONS, body, format="json")

    assert first.status_code == 201
    assert response.status_code == 422
    assert response.json() == {"message": IdempotencyKeyReusedError.message, "code": IdempotencyKeyReusedError.code}
    assert transfers().count() == 1
    assert balances(source, target, other_source, other_target) == [60_00, 40_00, 100_00, 0]


def test_keys_are_scoped_per_user(auth_client, other_client, user, other_user, source, target):
    theirs = funded_account("100.00", owner=other_user)
    mine = AccountFactory(owner=user)

    first = auth_client.post(TRANSACTIONS, transfer_body(source, target, "10.00", key="shared"), format="json")
    second = other_client.post(TRANSACTIONS, transfer_body(theirs, mine, "20.00", key="shared"), format="json")

    assert (first.status_code, second.status_code) == (201, 201)
    assert REPLAY_HEADER not in second.headers
    assert first.json()["transaction"]["id"] != second.json()["transaction"]["id"]
    assert IdempotencyKey.objects.filter(key="shared").count() == 2
    assert balances(source, target, theirs, mine) == [90_00, 10_00, 80_00, 20_00]
    assert_ledger_ok()


def test_key_in_the_header(auth_client, source, target):
    body = transfer_body(source, target, "5.00")
    del body["idempotencyKey"]

    first = auth_client.post(TRANSACTIONS, body, format="json", HTTP_IDEMPOTENCY_KEY="from-header")
    again = auth_client.post(TRANSACTIONS, body, format="json", HTTP_IDEMPOTENCY_KEY="from-header")
    same_in_body = auth_client.post(
        TRANSACTIONS, transfer_body(source, target, "5.00", key="from-header"), format="json"
    )

    assert first.status_code == 201, first.content
    assert first.json()["transaction"]["idempotencyKey"] == "from-header"
    assert (again.status_code, again.headers[REPLAY_HEADER]) == (200, "true")
    assert (same_in_body.status_code, same_in_body.headers[REPLAY_HEADER]) == (200, "true")
    assert transfers().count() == 1
    assert balances(source, target) == [95_00, 5_00]


def test_replay_after_the_original_was_reversed(auth_client, user, system_client, source, target):
    first = auth_client.post(TRANSACTIONS, transfer_body(source, target, "40.00", key="k"), format="json")
    txn_id = first.json()["transaction"]["id"]
    reversed_ = system_client.post(reverse_url(txn_id), {"idempotencyKey": "undo"}, format="json")
    assert reversed_.status_code == 201, reversed_.content

    again = auth_client.post(TRANSACTIONS, transfer_body(source, target, "40.00", key="k"), format="json")

    assert again.status_code == 200
    assert again.headers[REPLAY_HEADER] == "true"
    original = Transaction.objects.get(id=txn_id)
    assert again.json() == {
        "message": REPLAYED_REVERSED,
        "transaction": transaction_json(original, viewer=user),
        "balances": balances_json(source),
    }
    assert again.json()["transaction"]["status"] == "REVERSED"
    assert balances(source, target) == [100_00, 0]
    assert_ledger_ok()


def test_a_400_does_not_spend_the_key(auth_client, source, target):
    dollars = AccountFactory(owner=target.owner, currency="USD")
    refused = auth_client.post(TRANSACTIONS, transfer_body(source, dollars, "1.00", key="k"), format="json")

    accepted = auth_client.post(TRANSACTIONS, transfer_body(source, target, "1.00", key="k"), format="json")

    assert refused.status_code == 400
    assert accepted.status_code == 201, accepted.content
    assert REPLAY_HEADER not in accepted.headers
