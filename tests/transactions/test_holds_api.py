"""/api/holds over HTTP: status, code and body shape of every answer, and what each party sees."""

from datetime import timedelta

import pytest

from accounts.exceptions import AccountHasOpenHoldsError
from accounts.models import Account
from accounts.money import format_minor
from accounts.services import account_close, account_freeze
from tests.conftest import bearer_client
from tests.factories import AccountFactory, SystemUserFactory, funded_account, hold
from transactions.exceptions import (
    AccountInactiveError,
    CaptureExceedsHoldError,
    HoldNotFoundError,
    HoldNotPendingError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    InvalidAccountError,
)
from transactions.hold_apis import HOLD_CAPTURED, HOLD_CREATED, HOLD_REPLAYED, HOLD_VOIDED
from transactions.models import Hold, IdempotencyKey

from .responses import balances_json, iso, transaction_json
from .state import assert_ledger_ok

pytestmark = pytest.mark.django_db

HOLDS = "/api/holds"


def hold_body(source, target, amount="30.00", key="auth-1", **extra):
    return {
        "fromAccount": str(source.id),
        "toAccount": str(target.id),
        "amount": amount,
        "idempotencyKey": key,
        **extra,
    }


def hold_json(held: Hold, *, viewer) -> dict:
    held = Hold.objects.select_related("idempotency").get(id=held.id)
    capture = held.capture.id if hasattr(held, "capture") else None
    return {
        "id": str(held.id),
        "fromAccount": str(held.from_account_id),
        "toAccount": str(held.to_account_id),
        "amount": format_minor(held.amount, held.currency),
        "capturedAmount": None if held.captured_amount is None else format_minor(held.captured_amount, held.currency),
        "currency": held.currency,
        "status": held.status,
        "expiresAt": iso(held.expires_at),
        "idempotencyKey": held.idempotency.key if held.initiator_id == viewer.id else None,
        "failureReason": held.failure_reason or None,
        "transaction": str(capture) if capture else None,
        "createdAt": iso(held.created_at),
        "updatedAt": iso(held.updated_at),
        "metadata": held.metadata if held.initiator_id == viewer.id else None,
    }


def error(exc, **extra):
    return {"message": exc.message, "code": exc.code, **extra}


# --- create ---------------------------------------------------------------------------------


def test_create(auth_client, user, source, target):
    response = auth_client.post(HOLDS, hold_body(source, target, expiresIn=120), format="json")

    assert response.status_code == 201, response.content
    held = Hold.objects.get()
    assert response.json() == {
        "message": HOLD_CREATED,
        "hold": hold_json(held, viewer=user),
        "balances": {str(source.id): {"balance": "100.00", "held": "30.00", "available": "70.00"}},
    }
    assert held.expires_at - held.created_at == timedelta(seconds=120)
    account = auth_client.get(f"/api/accounts/{source.id}").json()["account"]
    assert (account["balance"], account["held"], account["available"]) == ("100.00", "30.00", "70.00")
    balance = auth_client.get(f"/api/accounts/balance/{source.id}").json()
    assert (balance["held"], balance["available"]) == ("30.00", "70.00")


def test_create_defaults_to_seven_days(auth_client, source, target):
    auth_client.post(HOLDS, hold_body(source, target), format="json")

    held = Hold.objects.get()
    assert held.expires_at - held.created_at == timedelta(days=7)


def test_a_declined_hold_is_422_with_details_and_replays(auth_client, user, source, target):
    hold(source, target, "60.00")
    body = hold_body(source, target, "50.00", key="too-much")

    first = auth_client.post(HOLDS, body, format="json")
    again = auth_client.post(HOLDS, body, format="json")

    assert first.status_code == again.status_code == 422
    declined = Hold.objects.get(idempotency__key="too-much")
    details = {"accountId": str(source.id), "currency": "INR", "available": "40.00"}
    details |= {"requested": "50.00", "shortfall": "10.00", "overdraftLimit": "0.00"}
    assert first.json() == error(InsufficientFundsError, hold=hold_json(declined, viewer=user), details=details)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert declined.status == "FAILED"
    assert Account.objects.get(id=source.id).held == 60_00


def test_a_frozen_destination_declines_without_details(auth_client, user, source, target):
    account_freeze(account_id=target.id)

    response = auth_client.post(HOLDS, hold_body(source, target), format="json")

    assert response.status_code == 422
    # The destination is not the caller's: its status is not shown.
    assert response.json() == error(AccountInactiveError, hold=hold_json(Hold.objects.get(), viewer=user))


def test_create_replays_and_refuses_a_reused_key(auth_client, source, target):
    first = auth_client.post(HOLDS, hold_body(source, target), format="json")
    again = auth_client.post(HOLDS, hold_body(source, target), format="json")
    reused = auth_client.post(HOLDS, hold_body(source, target, "31.00"), format="json")

    assert (first.status_code, again.status_code, reused.status_code) == (201, 200, 422)
    assert again.json() == {**first.json(), "message": HOLD_REPLAYED}
    assert reused.json() == error(IdempotencyKeyReusedError)
    assert Hold.objects.count() == 1


@pytest.mark.parametrize("expires_in", [59, 2592001, 0, -1, "60", 60.5, True, None])
def test_a_bad_expiry_is_400_and_changes_nothing(auth_client, source, target, expires_in):
    response = auth_client.post(HOLDS, hold_body(source, target, expiresIn=expires_in), format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error" and list(response.json()["errors"]) == ["expiresIn"]
    assert not Hold.objects.exists() and not IdempotencyKey.objects.filter(key="auth-1").exists()


def test_the_source_must_be_the_callers(other_client, source, target):
    response = other_client.post(HOLDS, hold_body(source, target), format="json")

    assert response.status_code == 400
    assert response.json() == error(InvalidAccountError)
    assert not Hold.objects.exists()


# --- capture --------------------------------------------------------------------------------


def test_capture(auth_client, user, source, target):
    held = hold(source, target, "30.00")

    response = auth_client.post(f"{HOLDS}/{held.id}/capture", {"idempotencyKey": "cap", "amount": "20"}, format="json")

    assert response.status_code == 201, response.content
    held.refresh_from_db()
    assert response.json() == {
        "message": HOLD_CAPTURED,
        "hold": hold_json(held, viewer=user),
        "transaction": transaction_json(held.capture, viewer=user),
        "balances": {str(source.id): {"balance": "80.00", "held": "0.00", "available": "80.00"}},
    }
    assert response.json()["transaction"]["hold"] == str(held.id)
    assert_ledger_ok()


def test_the_merchant_captures_and_sees_only_its_own_balance(other_client, other_user, source, target):
    held = hold(source, target, "30.00")

    response = other_client.post(f"{HOLDS}/{held.id}/capture", {"idempotencyKey": "cap"}, format="json")
    again = other_client.post(f"{HOLDS}/{held.id}/capture", {"idempotencyKey": "cap"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["balances"] == {str(target.id): {"balance": "30.00", "held": "0.00", "available": "30.00"}}
    assert body["hold"]["idempotencyKey"] is None  # the creator's key, not the merchant's
    assert body["transaction"]["entries"][0]["balanceAfter"] is None
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == {**body, "message": HOLD_REPLAYED, "balances": balances_json(target)}


def test_capture_above_the_hold_is_422(auth_client, source, target):
    held = hold(source, target, "30.00")

    response = auth_client.post(f"{HOLDS}/{held.id}/capture", {"idempotencyKey": "c", "amount": "30.01"}, format="json")

    assert response.status_code == 422
    assert response.json() == error(CaptureExceedsHoldError, details={"amount": "30.00", "requested": "30.01"})
    assert Hold.objects.get(id=held.id).status == "PENDING"


def test_a_second_capture_is_409_with_the_status(auth_client, source, target):
    held = hold(source, target, "30.00")
    auth_client.post(f"{HOLDS}/{held.id}/capture", {"idempotencyKey": "c1"}, format="json")

    response = auth_client.post(f"{HOLDS}/{held.id}/capture", {"idempotencyKey": "c2"}, format="json")

    assert response.status_code == 409
    assert response.json() == error(HoldNotPendingError, details={"status": "CAPTURED"})


def test_an_expired_hold_cannot_be_captured(auth_client, user, source, target):
    held = hold(source, target, "30.00", expires_in=0)

    response = auth_client.post(f"{HOLDS}/{held.id}/capture", {"idempotencyKey": "c"}, format="json")

    assert response.status_code == 409
    assert response.json() == error(HoldNotPendingError, details={"status": "EXPIRED"})
    # Shown as EXPIRED at once, before beat sweeps it.
    assert auth_client.get(f"{HOLDS}/{held.id}").json()["hold"]["status"] == "EXPIRED"


def test_a_frozen_source_refuses_capture_with_details_for_its_owner(auth_client, other_client, source, target):
    held = hold(source, target, "30.00")
    account_freeze(account_id=source.id)

    mine = auth_client.post(f"{HOLDS}/{held.id}/capture", {"idempotencyKey": "c"}, format="json")
    theirs = other_client.post(f"{HOLDS}/{held.id}/capture", {"idempotencyKey": "c"}, format="json")

    assert mine.status_code == theirs.status_code == 422
    assert mine.json() == error(AccountInactiveError, details={"accountId": str(source.id), "status": "FROZEN"})
    assert theirs.json() == error(AccountInactiveError)


# --- void -----------------------------------------------------------------------------------


def test_void(auth_client, user, source, target):
    held = hold(source, target, "30.00")

    response = auth_client.post(f"{HOLDS}/{held.id}/void", {"idempotencyKey": "v"}, format="json")

    assert response.status_code == 200, response.content
    held.refresh_from_db()
    assert response.json() == {
        "message": HOLD_VOIDED,
        "hold": hold_json(held, viewer=user),
        "balances": {str(source.id): {"balance": "100.00", "held": "0.00", "available": "100.00"}},
    }
    assert held.status == "VOIDED"


def test_a_system_user_may_void_any_hold_and_sees_no_balance(source, target):
    held = hold(source, target, "30.00")

    response = bearer_client(SystemUserFactory()).post(
        f"{HOLDS}/{held.id}/void", {"idempotencyKey": "v"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["balances"] == {}
    assert Account.objects.get(id=source.id).held == 0


# --- who may see and act --------------------------------------------------------------------


@pytest.mark.parametrize("action", ["capture", "void", "read"])
def test_a_stranger_gets_404_for_every_route(source, target, action):
    held = hold(source, target, "30.00")
    stranger = bearer_client(AccountFactory().owner)

    if action == "read":
        response = stranger.get(f"{HOLDS}/{held.id}")
    else:
        response = stranger.post(f"{HOLDS}/{held.id}/{action}", {"idempotencyKey": "x"}, format="json")

    assert response.status_code == 404
    assert response.json() == error(HoldNotFoundError)
    assert Hold.objects.get(id=held.id).status == "PENDING"


@pytest.mark.parametrize("path", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_an_unknown_or_malformed_id_is_404(auth_client, path):
    assert auth_client.get(f"{HOLDS}/{path}").status_code == 404
    assert auth_client.post(f"{HOLDS}/{path}/void", {"idempotencyKey": "x"}, format="json").status_code == 404


def test_list_and_filters(auth_client, other_client, user, source, target):
    pending = hold(source, target, "10.00")
    voided = hold(source, target, "20.00")
    auth_client.post(f"{HOLDS}/{voided.id}/void", {"idempotencyKey": "v"}, format="json")
    declined = hold(source, target, "500.00")
    unrelated = hold(funded_account("5.00"), AccountFactory(), "1.00")

    mine = auth_client.get(HOLDS).json()
    theirs = other_client.get(HOLDS).json()
    only_pending = auth_client.get(HOLDS, {"status": "PENDING"}).json()["holds"]
    by_account = other_client.get(HOLDS, {"account": str(target.id), "status": "VOIDED"}).json()["holds"]

    assert mine == {"holds": [hold_json(h, viewer=user) for h in (declined, voided, pending)], "next": None}
    # The destination's owner sees the holds on its account, never the payer's declined one.
    assert [h["id"] for h in theirs["holds"]] == [str(voided.id), str(pending.id)]
    assert str(unrelated.id) not in {h["id"] for h in mine["holds"] + theirs["holds"]}
    assert [h["id"] for h in only_pending] == [str(pending.id)]
    assert [h["id"] for h in by_account] == [str(voided.id)]
    assert auth_client.get(HOLDS, {"status": "NOPE"}).status_code == 400


def test_an_account_with_a_pending_hold_cannot_close(source, target):
    hold(source, target, "1.00")

    with pytest.raises(AccountHasOpenHoldsError):
        account_close(account_id=target.id)
