"""POST /api/transactions/{id}/reverse: corrections are new transactions, never edits."""

import uuid

import pytest

from accounts.models import Account
from accounts.services import account_close, account_freeze
from authn.exceptions import NotSystemUserError
from tests.factories import AccountFactory, account_fund, transfer
from transactions.apis import REPLAYED, REVERSAL_COMPLETED
from transactions.exceptions import (
    AccountInactiveError,
    AlreadyReversedError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    NotReversibleError,
    TransactionNotFoundError,
)
from transactions.models import LedgerEntry, Transaction

from .requests import reverse_url
from .responses import decline_json, iso
from .state import assert_ledger_ok, balances, outbox_mark, outbox_since

Status = Transaction.Status


def reversals():
    return Transaction.objects.filter(kind=Transaction.Kind.REVERSAL)


@pytest.fixture
def original(source, target):
    return transfer(source, target, "40.00")


def test_reverse(system_client, system_user, user, other_user, source, target, original):
    mark = outbox_mark()

    response = system_client.post(
        reverse_url(original.id), {"idempotencyKey": "undo-1", "reason": "fraud"}, format="json"
    )

    assert response.status_code == 201, response.content
    reversal = reversals().get()
    assert response.json() == {
        "message": REVERSAL_COMPLETED,
        "transaction": {
            "id": str(reversal.id),
            "kind": "REVERSAL",
            "fromAccount": str(target.id),
            "toAccount": str(source.id),
            "amount": "40.00",
            "currency": "INR",
            "status": "COMPLETED",
            "idempotencyKey": "undo-1",
            "failureReason": None,
            "reverses": str(original.id),
            "hold": None,
            "batch": None,
            "metadata": {},
            "createdAt": iso(reversal.created_at),
            "updatedAt": iso(reversal.updated_at),
            "entries": [
                # Neither side is the system user's: it sees their ids, never their balances.
                {"account": str(target.id), "type": "DEBIT", "amount": "40.00", "balanceAfter": None},
                {"account": str(source.id), "type": "CREDIT", "amount": "40.00", "balanceAfter": None},
            ],
        },
        "balances": {},  # nor their balances
    }
    assert (reversal.initiator, reversal.reason) == (system_user, "fraud")
    assert balances(source, target) == [100_00, 0]

    original.refresh_from_db()
    assert original.status == Status.REVERSED
    assert list(original.reversals.values_list("id", flat=True)) == [reversal.id]
    # The original's entries stay as they were: the ledger is append-only.
    assert list(original.entries.order_by("id").values_list("type", "amount", "balance_after")) == [
        ("DEBIT", 40_00, 60_00),
        ("CREDIT", 40_00, 40_00),
    ]

    emails = {row.to: row for row in outbox_since(mark)}
    assert set(emails) == {user.email, other_user.email}
    assert "40.00 INR was credited to" in emails[user.email].body
    assert "New balance: 100.00 INR" in emails[user.email].body
    assert "40.00 INR was debited from" in emails[other_user.email].body
    assert "(reversal)" in emails[other_user.email].body
    assert_ledger_ok()


def test_reverse_a_funding(system_client, system_user, user):
    account = AccountFactory(owner=user)
    funding = account_fund(account, "30.00", system=system_user)
    funding_account = Account.objects.get(owner=system_user, currency="INR", is_system=True)
    mark = outbox_mark()

    response = system_client.post(reverse_url(funding.id), {"idempotencyKey": "undo"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()["transaction"]
    assert (body["fromAccount"], body["toAccount"], body["reverses"]) == (
        str(account.id),
        str(funding_account.id),
        str(funding.id),
    )
    assert balances(account, funding_account) == [0, 0]
    assert [row.to for row in outbox_since(mark)] == [user.email]
    assert_ledger_ok()


def test_only_system_users_may_reverse(auth_client, other_client, source, target, original):
    for client in (auth_client, other_client):
        response = client.post(reverse_url(original.id), {"idempotencyKey": "undo"}, format="json")

        assert response.status_code == 403
        assert response.json() == {"message": NotSystemUserError.message, "code": NotSystemUserError.code}
    assert not reversals().exists()
    assert Transaction.objects.get(id=original.id).status == Status.COMPLETED
    assert balances(source, target) == [60_00, 40_00]


def test_already_reversed(system_client, source, target, original):
    system_client.post(reverse_url(original.id), {"idempotencyKey": "undo-1"}, format="json")

    response = system_client.post(reverse_url(original.id), {"idempotencyKey": "undo-2"}, format="json")

    assert response.status_code == 409
    assert response.json() == {"message": AlreadyReversedError.message, "code": AlreadyReversedError.code}
    assert reversals().count() == 1
    assert balances(source, target) == [100_00, 0]
    assert_ledger_ok()


def test_a_failed_transaction_is_not_reversible(system_client, source, target):
    failed = transfer(source, target, "1000.00")
    assert failed.status == Status.FAILED

    response = system_client.post(reverse_url(failed.id), {"idempotencyKey": "undo"}, format="json")

    assert response.status_code == 409
    assert response.json() == {"message": NotReversibleError.message, "code": NotReversibleError.code}
    assert not reversals().exists()


def test_a_reversal_is_not_reversible(system_client, original):
    reversal_id = system_client.post(reverse_url(original.id), {"idempotencyKey": "undo"}, format="json").json()[
        "transaction"
    ]["id"]

    response = system_client.post(reverse_url(reversal_id), {"idempotencyKey": "undo-the-undo"}, format="json")

    assert response.status_code == 409
    assert response.json() == {"message": NotReversibleError.message, "code": NotReversibleError.code}
    assert reversals().count() == 1
    assert Transaction.objects.get(id=reversal_id).status == Status.COMPLETED
    assert_ledger_ok()


def test_receiver_cannot_cover_the_reversal(system_client, system_user, source, target, original):
    elsewhere = AccountFactory()
    transfer(target, elsewhere, "30.00")  # the target spent most of it
    mark = outbox_mark()

    response = system_client.post(reverse_url(original.id), {"idempotencyKey": "undo-1"}, format="json")

    assert response.status_code == 422
    failed = reversals().get()
    assert response.json() == decline_json(InsufficientFundsError, failed, viewer=system_user)
    assert (failed.status, failed.failure_reason, failed.reverses_id) == (
        Status.FAILED,
        InsufficientFundsError.code,
        original.id,
    )
    assert not failed.entries.exists()
    assert Transaction.objects.get(id=original.id).status == Status.COMPLETED
    assert balances(source, target) == [60_00, 10_00]
    assert outbox_since(mark) == []
    assert_ledger_ok()

    # Once the money is back, a new attempt (new key) succeeds; the failed one stays on record.
    transfer(elsewhere, target, "30.00")
    retry = system_client.post(reverse_url(original.id), {"idempotencyKey": "undo-2"}, format="json")

    assert retry.status_code == 201, retry.content
    assert sorted(reversals().values_list("status", flat=True)) == [Status.COMPLETED, Status.FAILED]
    assert Transaction.objects.get(id=original.id).status == Status.REVERSED
    assert balances(source, target) == [100_00, 0]
    assert_ledger_ok()


@pytest.mark.parametrize("side", ["source", "target"])
def test_a_closed_account_cannot_take_part(
    system_client, system_user, user, other_user, source, target, original, side
):
    # An account closes only when empty: empty the chosen side first, through the service.
    if side == "source":
        transfer(source, AccountFactory(owner=user), "60.00")
        closed = source
    else:
        transfer(target, AccountFactory(owner=other_user), "40.00")
        closed = target
    account_close(account_id=closed.id)
    before = balances(source, target)

    response = system_client.post(reverse_url(original.id), {"idempotencyKey": "undo"}, format="json")

    assert response.status_code == 422
    failed = reversals().get()
    assert response.json() == decline_json(AccountInactiveError, failed, viewer=system_user)
    assert failed.failure_reason == AccountInactiveError.code
    assert balances(source, target) == before
    assert Transaction.objects.get(id=original.id).status == Status.COMPLETED
    assert_ledger_ok()


@pytest.mark.parametrize("frozen", [["source"], ["target"], ["source", "target"]])
def test_frozen_accounts_can_be_reversed(system_client, source, target, original, frozen):
    accounts = {"source": source, "target": target}
    for side in frozen:
        account_freeze(account_id=accounts[side].id)

    response = system_client.post(reverse_url(original.id), {"idempotencyKey": "undo"}, format="json")

    assert response.status_code == 201, response.content
    assert balances(source, target) == [100_00, 0]
    assert [
        side for side, account in accounts.items() if Account.objects.get(id=account.id).status == "FROZEN"
    ] == frozen
    assert_ledger_ok()


@pytest.mark.parametrize(
    "transaction_id, message",
    [(uuid.uuid4(), TransactionNotFoundError.message), ("not-a-uuid", "Not found."), ("123", "Not found.")],
)
def test_unknown_transaction(system_client, transaction_id, message):
    response = system_client.post(reverse_url(transaction_id), {"idempotencyKey": "undo"}, format="json")

    assert response.status_code == 404
    assert response.json() == {"message": message, "code": "not_found"}
    assert not Transaction.objects.exists()


def test_reverse_needs_a_key(system_client, original):
    response = system_client.post(reverse_url(original.id), {"reason": "oops"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "idempotencyKey": ["This field is required (or send the Idempotency-Key header)."]
    }
    assert not reversals().exists()


def test_reverse_is_idempotent(system_client, source, target, original):
    first = system_client.post(reverse_url(original.id), {"idempotencyKey": "undo"}, format="json")
    mark = outbox_mark()

    again = system_client.post(reverse_url(original.id), {"idempotencyKey": "undo"}, format="json")
    by_header = system_client.post(reverse_url(original.id), {}, format="json", HTTP_IDEMPOTENCY_KEY="undo")

    assert first.status_code == 201
    for replay in (again, by_header):
        assert replay.status_code == 200, replay.content
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == {"message": REPLAYED, "transaction": first.json()["transaction"], "balances": {}}
    assert reversals().count() == 1
    assert balances(source, target) == [100_00, 0]
    assert outbox_since(mark) == []
    assert_ledger_ok()


def test_reverse_key_used_for_another_transaction(system_client, source, target, original):
    second = transfer(source, target, "10.00")
    system_client.post(reverse_url(original.id), {"idempotencyKey": "undo"}, format="json")

    response = system_client.post(reverse_url(second.id), {"idempotencyKey": "undo"}, format="json")

    assert response.status_code == 422
    assert response.json() == {"message": IdempotencyKeyReusedError.message, "code": IdempotencyKeyReusedError.code}
    assert Transaction.objects.get(id=second.id).status == Status.COMPLETED


def test_a_refused_reversal_does_not_spend_the_key(system_client, source, target, original):
    failed = transfer(source, target, "1000.00")
    refused = system_client.post(reverse_url(failed.id), {"idempotencyKey": "undo"}, format="json")

    accepted = system_client.post(reverse_url(original.id), {"idempotencyKey": "undo"}, format="json")

    assert refused.status_code == 409
    assert accepted.status_code == 201, accepted.content
    assert LedgerEntry.objects.filter(transaction__kind=Transaction.Kind.REVERSAL).count() == 2
