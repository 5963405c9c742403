"""POST /api/transactions/system/initial-funds: where money enters the ledger."""

import uuid

import pytest

from accounts.models import Account
from accounts.services import account_close, account_freeze, funding_accounts_ensure
from authn.exceptions import NotSystemUserError
from tests.factories import AccountFactory
from transactions.apis import FUNDING_COMPLETED, REPLAYED
from transactions.exceptions import (
    AccountInactiveError,
    IdempotencyKeyReusedError,
    InvalidAccountError,
    SameAccountError,
)
from transactions.models import IdempotencyKey, Transaction

from .requests import FUNDING
from .responses import decline_json, iso
from .state import assert_ledger_ok, outbox_mark, outbox_since


def fundings():
    return Transaction.objects.filter(kind=Transaction.Kind.FUNDING)


def funding_account(system_user, currency="INR"):
    return Account.objects.get(owner=system_user, currency=currency, is_system=True)


def test_funding(system_client, system_user, user, account):
    mark = outbox_mark()

    response = system_client.post(
        FUNDING, {"toAccount": str(account.id), "amount": "250.5", "idempotencyKey": "seed-1"}, format="json"
    )

    assert response.status_code == 201, response.content
    txn = fundings().get()
    source = funding_account(system_user)
    assert response.json() == {
        "message": FUNDING_COMPLETED,
        "transaction": {
            "id": str(txn.id),
            "kind": "FUNDING",
            "fromAccount": str(source.id),
            "toAccount": str(account.id),
            "amount": "250.50",
            "currency": "INR",
            "status": "COMPLETED",
            "idempotencyKey": "seed-1",
            "failureReason": None,
            "reverses": None,
            "hold": None,
            "batch": None,
            "metadata": {},
            "createdAt": iso(txn.created_at),
            "updatedAt": iso(txn.updated_at),
            "entries": [
                # The system user sees its own funding account's balance, never the customer's.
                {"account": str(source.id), "type": "DEBIT", "amount": "250.50", "balanceAfter": "-250.50"},
                {"account": str(account.id), "type": "CREDIT", "amount": "250.50", "balanceAfter": None},
            ],
        },
        "balances": {str(source.id): {"balance": "-250.50", "held": "0.00", "available": "-250.50"}},
    }
    assert source.balance == -250_50
    assert Account.objects.get(id=account.id).balance == 250_50
    # One email, to the recipient; the system side is never written to.
    (email,) = outbox_since(mark)
    assert email.to == user.email
    assert "250.50 INR was credited to" in email.body
    assert "New balance: 250.50 INR" in email.body
    assert_ledger_ok()


def test_funding_creates_the_missing_funding_account_of_the_targets_currency(system_client, system_user, account):
    assert not Account.objects.filter(owner=system_user).exists()

    system_client.post(FUNDING, {"toAccount": str(account.id), "amount": "1", "idempotencyKey": "k"}, format="json")

    assert list(Account.objects.filter(owner=system_user, is_system=True).values_list("currency", flat=True)) == [
        account.currency
    ]


@pytest.mark.parametrize("currency", ["USD", "EUR", "BDT"])
def test_funding_debits_the_funding_account_in_the_targets_currency(system_client, system_user, user, currency):
    funding_accounts_ensure(owner=system_user)
    target = AccountFactory(owner=user, currency=currency)

    response = system_client.post(
        FUNDING, {"toAccount": str(target.id), "amount": "12.34", "idempotencyKey": "k"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["transaction"]["currency"] == currency
    source = funding_account(system_user, currency)
    assert response.json()["transaction"]["fromAccount"] == str(source.id)
    assert source.balance == -12_34
    assert funding_account(system_user, "INR").balance == 0
    assert_ledger_ok()


def test_the_funding_account_keeps_going_negative(system_client, system_user, account):
    for n in range(3):
        response = system_client.post(
            FUNDING, {"toAccount": str(account.id), "amount": "1000000000", "idempotencyKey": f"k{n}"}, format="json"
        )
        assert response.status_code == 201, response.content

    assert funding_account(system_user).balance == -3_000_000_000_00
    assert Account.objects.get(id=account.id).balance == 3_000_000_000_00
    assert_ledger_ok()


def test_only_system_users_may_fund(auth_client, account):
    response = auth_client.post(
        FUNDING, {"toAccount": str(account.id), "amount": "100", "idempotencyKey": "k"}, format="json"
    )

    assert response.status_code == 403
    assert response.json() == {"message": NotSystemUserError.message, "code": NotSystemUserError.code}
    assert not Transaction.objects.exists()
    assert not IdempotencyKey.objects.exists()
    assert Account.objects.get(id=account.id).balance == 0


def test_funding_needs_authentication(client, account):
    response = client.post(
        FUNDING, {"toAccount": str(account.id), "amount": "100", "idempotencyKey": "k"}, format="json"
    )

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert not Transaction.objects.exists()


@pytest.mark.parametrize("make_inactive", [account_freeze, account_close], ids=["frozen", "closed"])
def test_the_target_must_be_active(system_client, system_user, account, make_inactive):
    make_inactive(account_id=account.id)
    mark = outbox_mark()

    response = system_client.post(
        FUNDING, {"toAccount": str(account.id), "amount": "100", "idempotencyKey": "k"}, format="json"
    )

    assert response.status_code == 422
    txn = fundings().get()
    assert response.json() == decline_json(AccountInactiveError, txn, viewer=system_user)
    assert (txn.status, txn.failure_reason) == ("FAILED", AccountInactiveError.code)
    assert not txn.entries.exists()
    assert Account.objects.get(id=account.id).balance == 0
    assert outbox_since(mark) == []
    assert_ledger_ok()


def test_unknown_target(system_client):
    response = system_client.post(
        FUNDING, {"toAccount": str(uuid.uuid4()), "amount": "100", "idempotencyKey": "k"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"message": InvalidAccountError.message, "code": InvalidAccountError.code}
    assert not Transaction.objects.exists()


def test_a_system_user_cannot_fund_its_own_funding_account(system_client, system_user, account):
    system_client.post(FUNDING, {"toAccount": str(account.id), "amount": "1", "idempotencyKey": "first"}, format="json")
    own = funding_account(system_user)

    response = system_client.post(
        FUNDING, {"toAccount": str(own.id), "amount": "1", "idempotencyKey": "k"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"message": SameAccountError.message, "code": SameAccountError.code}
    assert fundings().count() == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"amount": "1", "idempotencyKey": "k"}, "toAccount"),
        ({"toAccount": "nope", "amount": "1", "idempotencyKey": "k"}, "toAccount"),
        ({"toAccount": "ACCOUNT", "idempotencyKey": "k"}, "amount"),
        ({"toAccount": "ACCOUNT", "amount": "1"}, "idempotencyKey"),
    ],
)
def test_funding_validation(system_client, account, body, field):
    body = {k: str(account.id) if v == "ACCOUNT" else v for k, v in body.items()}

    response = system_client.post(FUNDING, body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["errors"]) == [field]
    assert not Transaction.objects.exists()


def test_funding_is_idempotent(system_client, account):
    body = {"toAccount": str(account.id), "amount": "100", "idempotencyKey": "seed"}
    first = system_client.post(FUNDING, body, format="json")
    mark = outbox_mark()

    again = system_client.post(FUNDING, body, format="json")
    other_amount = system_client.post(FUNDING, {**body, "amount": "101"}, format="json")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == {"message": REPLAYED, **{k: first.json()[k] for k in ("transaction", "balances")}}
    assert other_amount.status_code == 422
    assert other_amount.json()["code"] == IdempotencyKeyReusedError.code
    assert fundings().count() == 1
    assert Account.objects.get(id=account.id).balance == 100_00
    assert outbox_since(mark) == []


def test_funding_key_in_the_header(system_client, account):
    body = {"toAccount": str(account.id), "amount": "100"}

    first = system_client.post(FUNDING, body, format="json", HTTP_IDEMPOTENCY_KEY="seed")
    again = system_client.post(FUNDING, body, format="json", HTTP_IDEMPOTENCY_KEY="seed")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["transaction"]["idempotencyKey"] == "seed"
    assert Account.objects.get(id=account.id).balance == 100_00
