"""Holds show another user's account as its id only (issue 13; test_balance_leak.py's idea).

Alice holds money for Bob; Bob captures one hold, a system user voids another. Every hold route
is called by each party, and each answer is searched, as text, for any balance of an account the
caller does not own and any idempotency key it did not use.
"""

import pytest

from accounts.services import account_freeze
from tests.conftest import bearer_client
from tests.factories import AccountFactory, hold

from .test_balance_leak import parties, secrets_of_others  # noqa: F401  (a fixture)

HOLDS = "/api/holds"


def assert_nothing_of_others(viewer, response):
    text = response.content.decode()
    # Amounts the caller may see (the hold's) can equal another's balance; those are not leaks.
    body = response.json()
    shown = [body.get("hold") or {}, *body.get("holds", []), body.get("transaction") or {}]
    amounts = {f'"{h[k]}"' for h in shown for k in ("amount", "capturedAmount") if h.get(k)}
    assert [secret for secret in secrets_of_others(viewer) - amounts if secret in text] == []


def test_no_hold_route_shows_another_users_balance_or_key(parties):  # noqa: F811
    p = parties
    alice, bob, system = (p.clients[u] for u in (p.alice, p.bob, p.system))
    body = {"fromAccount": str(p.a.id), "toAccount": str(p.b.id), "amount": "0.07", "idempotencyKey": "alice-holds"}
    voided = hold(p.a, p.b, "0.05", key="alice-holds-again")
    seen = []

    def call(viewer, request, status):
        response = request()
        assert response.status_code == status, response.content
        assert_nothing_of_others(viewer, response)
        seen.append((viewer, response))
        return response

    held = call(p.alice, lambda: alice.post(HOLDS, body, format="json"), 201).json()["hold"]
    call(p.alice, lambda: alice.post(HOLDS, body, format="json"), 200)
    call(p.alice, lambda: alice.post(HOLDS, {**body, "amount": "900", "idempotencyKey": "big"}, format="json"), 422)
    capture = f"{HOLDS}/{held['id']}/capture"
    call(p.bob, lambda: bob.post(capture, {"idempotencyKey": "bob-captures"}, format="json"), 201)
    call(p.bob, lambda: bob.post(capture, {"idempotencyKey": "bob-captures"}, format="json"), 200)
    call(p.system, lambda: system.post(f"{HOLDS}/{voided.id}/void", {"idempotencyKey": "op"}, format="json"), 200)
    for viewer, client in [(p.alice, alice), (p.bob, bob)]:
        listed = call(viewer, lambda client=client: client.get(HOLDS), 200).json()["holds"]
        for shown in listed:
            call(viewer, lambda client=client, shown=shown: client.get(f"{HOLDS}/{shown['id']}"), 200)
        # Bob never sees Alice's declined hold, nor any of her keys.
        assert all(h["idempotencyKey"] is None for h in listed) == (viewer == p.bob)
        assert len(listed) == (3 if viewer == p.alice else 2)


def test_a_capture_declined_for_a_frozen_payer_tells_the_merchant_nothing_of_the_payer(parties):  # noqa: F811
    p = parties
    held = hold(p.a, p.b, "0.07")
    account_freeze(account_id=p.a.id)

    response = p.clients[p.bob].post(f"{HOLDS}/{held.id}/capture", {"idempotencyKey": "k"}, format="json")

    assert response.status_code == 422
    assert "details" not in response.json() and str(p.a.id) not in response.content.decode()


@pytest.mark.parametrize("route", ["detail", "capture", "void"])
def test_a_stranger_cannot_tell_a_hold_exists(parties, route):  # noqa: F811
    p = parties
    held = hold(p.a, p.b, "0.07")
    stranger = bearer_client(AccountFactory().owner)
    unknown = "00000000-0000-0000-0000-000000000000"

    if route == "detail":
        answers = [stranger.get(f"{HOLDS}/{hold_id}") for hold_id in (held.id, unknown)]
    else:
        answers = [
            stranger.post(f"{HOLDS}/{hold_id}/{route}", {"idempotencyKey": "x"}, format="json")
            for hold_id in (held.id, unknown)
        ]

    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].json() == answers[1].json()
