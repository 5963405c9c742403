"""POST /api/transactions: the transfer, its declines and every error code of API.md."""

import uuid
from decimal import Decimal

import pytest
from django.core import mail
from rest_framework.test import APIClient

from accounts.models import Account
from accounts.money import format_minor
from accounts.services import account_close, account_freeze, funding_accounts_ensure
from ledger_project.exceptions import InvalidInputError
from notifications.services import outbox_email_send, outbox_relay
from tests.conftest import bearer_client
from tests.factories import AccountFactory, SystemUserFactory, funded_account
from transactions.apis import TRANSFER_COMPLETED
from transactions.exceptions import (
    AccountInactiveError,
    CurrencyMismatchError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    InvalidAccountError,
    SameAccountError,
)
from transactions.models import IdempotencyKey, LedgerEntry
from transactions.services import transfer_create

from .requests import TRANSACTIONS, transfer_body
from .responses import decline_json, iso
from .state import assert_ledger_ok, balances, outbox_mark, outbox_since, transfers


def assert_nothing_stored():
    assert not transfers().exists()
    # The funding helper spends keys of its own; no transfer key may have been claimed.
    assert not IdempotencyKey.objects.exclude(key__startswith="test-funding:").exists()


# --- success --------------------------------------------------------------------------------


def test_transfer(auth_client, user, other_user, source, target):
    mark = outbox_mark()

    response = auth_client.post(TRANSACTIONS, transfer_body(source, target, "40", key="rent-june"), format="json")

    assert response.status_code == 201, response.content
    txn = transfers().get()
    assert response.json() == {
        "message": TRANSFER_COMPLETED,
        "transaction": {
            "id": str(txn.id),
            "kind": "TRANSFER",
            "fromAccount": str(source.id),
            "toAccount": str(target.id),
            "amount": "40.00",
            "currency": "INR",
            "status": "COMPLETED",
            "idempotencyKey": "rent-june",
            "failureReason": None,
            "reverses": None,
            "hold": None,
            "batch": None,
            "metadata": {},
            "createdAt": iso(txn.created_at),
            "updatedAt": iso(txn.updated_at),
            "entries": [
                {"account": str(source.id), "type": "DEBIT", "amount": "40.00", "balanceAfter": "60.00"},
                # The payee's balance is the payee's business: the payer sees its account id only.
                {"account": str(target.id), "type": "CREDIT", "amount": "40.00", "balanceAfter": None},
            ],
        },
        # The caller's own accounts only: the payee's balance is not the payer's to see.
        "balances": {str(source.id): {"balance": "60.00", "held": "0.00", "available": "60.00"}},
    }
    assert (txn.initiator, txn.amount) == (user, 40_00)
    assert balances(source, target) == [60_00, 40_00]

    sent, received = sorted(outbox_since(mark), key=lambda row: row.to != user.email)
    assert (sent.to, received.to) == (user.email, other_user.email)
    assert "40.00 INR was debited from" in sent.body
    assert f"Other account: {target.id}" in sent.body
    assert "New balance: 60.00 INR" in sent.body
    assert "40.00 INR was credited to" in received.body
    assert f"Other account: {source.id}" in received.body
    assert "New balance: 40.00 INR" in received.body
    assert f"Transaction: {txn.id}" in sent.body and f"Transaction: {txn.id}" in received.body
    assert_ledger_ok()


def test_transfer_of_the_whole_balance(auth_client, source, target):
    response = auth_client.post(TRANSACTIONS, transfer_body(source, target, "100.00"), format="json")

    assert response.status_code == 201, response.content
    assert balances(source, target) == [0, 100_00]
    assert_ledger_ok()


def test_emails_are_written_with_the_transfer_and_handed_over_by_the_relay(
    auth_client, user, other_user, source, target, broker, django_capture_on_commit_callbacks
):
    mark = outbox_mark()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = auth_client.post(TRANSACTIONS, transfer_body(source, target), format="json")

    assert response.status_code == 201, response.content
    assert callbacks == [] and broker.published() == []  # the request never waits on the broker
    rows = outbox_since(mark)
    outbox_relay()
    assert {row.id for row in rows} <= {i for _, ids in broker.published() for i in ids}
    for row in rows:
        assert outbox_email_send(outbox_id=row.id)
    assert sorted(message.to[0] for message in mail.outbox) == sorted([user.email, other_user.email])


def test_a_decline_writes_no_email(auth_client, user, target):
    poor = AccountFactory(owner=user)
    mark = outbox_mark()

    response = auth_client.post(TRANSACTIONS, transfer_body(poor, target), format="json")

    assert response.status_code == 422
    assert outbox_since(mark) == []


def test_any_account_of_the_currency_may_receive(auth_client, user, source):
    mine = AccountFactory(owner=user)

    response = auth_client.post(TRANSACTIONS, transfer_body(source, mine, "0.01"), format="json")

    assert response.status_code == 201, response.content
    assert balances(source, mine) == [99_99, 1]
    assert_ledger_ok()


# --- 400: nothing is stored -----------------------------------------------------------------


REQUIRED = ["This field is required."]


@pytest.mark.parametrize(
    "drop, errors",
    [
        (["fromAccount"], {"fromAccount": REQUIRED}),
        (["toAccount"], {"toAccount": REQUIRED}),
        (["amount"], {"amount": REQUIRED}),
        (["fromAccount", "toAccount", "amount"], {"fromAccount": REQUIRED, "toAccount": REQUIRED, "amount": REQUIRED}),
    ],
)
def test_missing_fields(auth_client, source, target, drop, errors):
    body = {k: v for k, v in transfer_body(source, target).items() if k not in drop}

    response = auth_client.post(TRANSACTIONS, body, format="json")

    assert response.status_code == 400
    assert response.json() == {"message": "Invalid input.", "code": "validation_error", "errors": errors}
    assert_nothing_stored()


@pytest.mark.parametrize("field", ["fromAccount", "toAccount"])
@pytest.mark.parametrize("value", ["not-a-uuid", "1234", "", "g" * 32, None, [], {}, 42])
def test_malformed_account_ids(auth_client, source, target, field, value):
    body = {**transfer_body(source, target), field: value}

    response = auth_client.post(TRANSACTIONS, body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["errors"]) == [field]
    assert_nothing_stored()


def test_missing_idempotency_key(auth_client, source, target):
    body = transfer_body(source, target)
    del body["idempotencyKey"]

    response = auth_client.post(TRANSACTIONS, body, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "message": InvalidInputError.message,
        "code": "validation_error",
        "errors": {"idempotencyKey": ["This field is required (or send the Idempotency-Key header)."]},
    }
    assert_nothing_stored()
    assert balances(source, target) == [100_00, 0]


@pytest.mark.parametrize("key", ["", "a" * 256, "line\nbreak", "nul\x00"])
def test_invalid_idempotency_keys(auth_client, source, target, key):
    response = auth_client.post(TRANSACTIONS, transfer_body(source, target, key=key), format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["errors"]) == ["idempotencyKey"]
    assert_nothing_stored()


def test_header_and_body_keys_differ(auth_client, source, target):
    response = auth_client.post(
        TRANSACTIONS, transfer_body(source, target, key="body-key"), format="json", HTTP_IDEMPOTENCY_KEY="header-key"
    )

    assert response.status_code == 400
    assert response.json() == {
        "message": "The Idempotency-Key header and the body's idempotencyKey differ.",
        "code": "validation_error",
        "errors": {"idempotencyKey": ["Does not match the Idempotency-Key header."]},
    }
    assert_nothing_stored()


def test_header_and_body_keys_that_agree(auth_client, source, target):
    response = auth_client.post(
        TRANSACTIONS, transfer_body(source, target, key="same"), format="json", HTTP_IDEMPOTENCY_KEY="same"
    )

    assert response.status_code == 201, response.content
    assert response.json()["transaction"]["idempotencyKey"] == "same"


@pytest.mark.parametrize("case", ["unknown from", "another user's from", "unknown to"])
def test_invalid_account_gives_one_answer_for_every_case(auth_client, other_user, source, target, case):
    theirs = funded_account("100.00", owner=other_user)
    from_id, to_id = {
        "unknown from": (uuid.uuid4(), target.id),
        "another user's from": (theirs.id, target.id),
        "unknown to": (source.id, uuid.uuid4()),
    }[case]
    body = {"fromAccount": str(from_id), "toAccount": str(to_id), "amount": "10", "idempotencyKey": "k"}

    response = auth_client.post(TRANSACTIONS, body, format="json")

    assert response.status_code == 400
    assert response.json() == {"message": InvalidAccountError.message, "code": InvalidAccountError.code}
    assert_nothing_stored()
    assert balances(theirs, source, target) == [100_00, 100_00, 0]


def test_funding_accounts_are_not_transfer_endpoints(auth_client, source):
    """Money enters only through initial-funds: a system user cannot mint with a transfer from its
    funding account, and nobody can send money into one."""
    system = SystemUserFactory()
    funding = funding_accounts_ensure(owner=system)[0]
    system_account = AccountFactory(owner=system, currency=funding.currency)

    into_funding = auth_client.post(TRANSACTIONS, transfer_body(source, funding), format="json")
    out_of_funding = bearer_client(system).post(TRANSACTIONS, transfer_body(funding, system_account), format="json")

    for response in (into_funding, out_of_funding):
        assert response.status_code == 400
        assert response.json() == {"message": InvalidAccountError.message, "code": InvalidAccountError.code}
    assert balances(source) == [100_00]


def test_same_account(auth_client, source):
    response = auth_client.post(TRANSACTIONS, transfer_body(source, source), format="json")

    assert response.status_code == 400
    assert response.json() == {"message": SameAccountError.message, "code": SameAccountError.code}
    assert_nothing_stored()


def test_currency_mismatch(auth_client, other_user, source):
    dollars = AccountFactory(owner=other_user, currency="USD")

    response = auth_client.post(TRANSACTIONS, transfer_body(source, dollars), format="json")

    assert response.status_code == 400
    assert response.json() == {"message": CurrencyMismatchError.message, "code": CurrencyMismatchError.code}
    assert_nothing_stored()
    assert balances(source, dollars) == [100_00, 0]


def test_malformed_json(auth_client):
    response = auth_client.post(TRANSACTIONS, data='{"amount": ', content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"message": "Malformed JSON body.", "code": "validation_error"}
    assert_nothing_stored()


# --- 422: declines record a FAILED transaction ----------------------------------------------


def test_insufficient_funds(auth_client, user, source, target):
    mark = outbox_mark()

    response = auth_client.post(TRANSACTIONS, transfer_body(source, target, "100.01", key="too-much"), format="json")

    assert response.status_code == 422
    txn = transfers().get()
    assert (txn.status, txn.failure_reason, txn.initiator) == ("FAILED", InsufficientFundsError.code, user)
    assert not txn.entries.exists()
    details = {
        "accountId": str(source.id),
        "currency": "INR",
        "available": "100.00",
        "requested": "100.01",
        "shortfall": "0.01",
        "overdraftLimit": "0.00",
    }
    assert response.json() == decline_json(InsufficientFundsError, txn, viewer=user, details=details)
    body = response.json()["transaction"]
    assert (body["status"], body["failureReason"], body["entries"], body["amount"]) == (
        "FAILED",
        "insufficient_funds",
        [],
        "100.01",
    )
    assert "Idempotent-Replayed" not in response.headers
    assert balances(source, target) == [100_00, 0]
    assert outbox_since(mark) == []
    assert IdempotencyKey.objects.filter(initiator=user, key="too-much").exists()
    assert_ledger_ok()


def test_insufficient_funds_on_an_empty_account(auth_client, user, target):
    empty = AccountFactory(owner=user)

    response = auth_client.post(TRANSACTIONS, transfer_body(empty, target, "0.01"), format="json")

    assert response.status_code == 422
    assert response.json()["code"] == InsufficientFundsError.code
    assert balances(empty, target) == [0, 0]
    assert not LedgerEntry.objects.filter(account__in=[empty, target]).exists()


def frozen(account):
    return account_freeze(account_id=account.id)


def closed(account):
    # Only an empty account can close: its money leaves first, through the service.
    balance = Account.objects.get(id=account.id).balance
    if balance:
        sink = AccountFactory(owner=account.owner, currency=account.currency)
        transfer_create(
            initiator=account.owner,
            from_account_id=account.id,
            to_account_id=sink.id,
            amount=Decimal(format_minor(balance, account.currency)),
            idempotency_key=f"empty-{account.id}",
        )
    return account_close(account_id=account.id)


@pytest.mark.parametrize("make_inactive", [frozen, closed], ids=["frozen", "closed"])
@pytest.mark.parametrize("side", ["from", "to"])
def test_inactive_account_on_either_side(auth_client, user, source, target, make_inactive, side):
    make_inactive(source if side == "from" else target)
    source.refresh_from_db()
    before = balances(source, target)
    mark = outbox_mark()

    response = auth_client.post(TRANSACTIONS, transfer_body(source, target, "1.00", key="inactive"), format="json")

    assert response.status_code == 422
    txn = transfers().get(idempotency__key="inactive")
    assert (txn.status, txn.failure_reason) == ("FAILED", AccountInactiveError.code)
    # Details only about the caller's own account: the payee's status is not the payer's to see.
    details = {"accountId": str(source.id), "status": source.status} if side == "from" else None
    assert response.json() == decline_json(AccountInactiveError, txn, viewer=user, details=details)
    assert balances(source, target) == before
    assert outbox_since(mark) == []
    assert_ledger_ok()


def test_idempotency_key_reused_for_another_request(auth_client, source, target):
    first = auth_client.post(TRANSACTIONS, transfer_body(source, target, "10.00", key="k"), format="json")
    assert first.status_code == 201

    response = auth_client.post(TRANSACTIONS, transfer_body(source, target, "20.00", key="k"), format="json")

    assert response.status_code == 422
    assert response.json() == {"message": IdempotencyKeyReusedError.message, "code": IdempotencyKeyReusedError.code}
    assert transfers().count() == 1
    assert balances(source, target) == [90_00, 10_00]


# --- 401, 429 -------------------------------------------------------------------------------


def test_not_authenticated(source, target):
    response = APIClient().post(TRANSACTIONS, transfer_body(source, target), format="json")

    assert response.status_code == 401
    assert response.json() == {"message": "Authentication credentials were not provided.", "code": "not_authenticated"}
    assert_nothing_stored()


def test_bad_token(source, target):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")

    response = client.post(TRANSACTIONS, transfer_body(source, target), format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"
    assert_nothing_stored()


def test_transfers_are_throttled_per_user(auth_client, other_client, other_user, settings, source, target):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "transfer": "2/day"}
    for n in range(2):
        assert (
            auth_client.post(TRANSACTIONS, transfer_body(source, target, "1", key=f"k{n}"), format="json").status_code
            == 201
        )

    response = auth_client.post(TRANSACTIONS, transfer_body(source, target, "1", key="k3"), format="json")

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response.headers["Retry-After"]) > 0
    assert transfers().count() == 2
    assert balances(source, target) == [98_00, 2_00]
    # Reading is not throttled, and another user has a budget of their own.
    assert auth_client.get(TRANSACTIONS).status_code == 200
    theirs = funded_account("5.00", owner=other_user)
    assert other_client.post(TRANSACTIONS, transfer_body(theirs, source, "1"), format="json").status_code == 201
