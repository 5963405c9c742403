"""Forged cursors: every paginated list reads only cursors it issued itself; any other cursor is
a 400, never a query PostgreSQL refuses (a 500)."""

import base64
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core import signing
from django.utils import timezone
from drf_spectacular.generators import EndpointEnumerator

from ledger_project.pagination import KeysetPagination
from tests.factories import AccountFactory, funded_account, hold, transfer

INVALID_CURSOR = {"message": "Invalid input.", "code": "validation_error", "errors": {"cursor": ["Invalid cursor."]}}


def _paginated_lists():
    """Every GET route whose view pages with KeysetPagination, found in the URLconf so that a
    list added later is attacked too."""
    return sorted(
        path
        for path, _, method, callback in EndpointEnumerator().get_api_endpoints()
        if method == "GET" and issubclass(getattr(callback.cls, "pagination_class", None) or object, KeysetPagination)
    )


PAGINATED = _paginated_lists()


def _required(path) -> dict:
    """The query a list needs besides its cursor: a statement's period (today, give or take a day)."""
    if path.endswith("/statement"):
        now = timezone.now()
        return {"from": (now - timedelta(days=1)).isoformat(), "to": (now + timedelta(days=1)).isoformat()}
    return {}


def _drf_cursor(**tokens) -> str:
    """A cursor as DRF itself encodes one: base64 of `o=..&r=..&p=..`, which anyone can write."""
    return base64.b64encode(urlencode(tokens).encode()).decode()


def _signed_with_new_payload(issued: str, payload) -> str:
    """The issued cursor's signature after a payload of our own."""
    signature = issued.split(":")[-1]
    return signing.b64_encode(json.dumps(payload).encode()).decode() + ":" + signature


def _position(issued: str) -> str:
    """The position inside a cursor this API issued (signed, but readable)."""
    return json.loads(signing.b64_decode(issued.split(":")[0].encode()))[2]


def _flip_last(text: str) -> str:
    return text[:-1] + ("A" if text[-1] != "A" else "B")


ATTACKS = {
    # The reported 500: an offset PostgreSQL refuses, in a cursor built the way DRF builds them.
    "forged-offset-16h": lambda issued: _drf_cursor(p="2024-01-01 00:00:00+16:00"),
    "forged-reverse": lambda issued: _drf_cursor(r=1, p="99999999999999999999"),
    "forged-sql": lambda issued: _drf_cursor(p="1 OR 1=1"),
    "tampered-signature": _flip_last,
    "tampered-payload": lambda issued: _signed_with_new_payload(issued, [0, False, "2024-01-01 00:00:00+16:00"]),
    "truncated": lambda issued: issued[:-1],
    "truncated-to-payload": lambda issued: issued.split(":")[0],
    "re-encoded-as-drf": lambda issued: _drf_cursor(p=_position(issued)),
    "unicode": lambda issued: issued + "é",
    "empty": lambda issued: "",
}


@pytest.fixture
def lists(user):
    """Two accounts, three transactions and two holds on one of them: every list has a second
    page at ?limit=1."""
    account = funded_account("100.00", owner=user)
    AccountFactory(owner=user)
    for _ in range(2):
        transfer(account, AccountFactory(), "1.00")
        hold(account, AccountFactory(), "1.00")
    return {"account_id": account.id}


def _issued_cursor(client, url, **params) -> str:
    response = client.get(url, {"limit": 1, **params})
    assert response.status_code == 200, response.content
    return parse_qs(urlsplit(response.json()["next"]).query)["cursor"][0]


def test_every_paginated_list_is_attacked():
    assert {
        "/api/transactions",
        "/api/holds",
        "/api/accounts/{account_id}/entries",
        "/api/accounts/{account_id}/statement",
    } <= set(PAGINATED)


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("path", PAGINATED)
def test_a_cursor_the_api_did_not_issue_is_400(auth_client, lists, path, attack):
    url, params = path.format_map(lists), _required(path)
    issued = _issued_cursor(auth_client, url, **params)
    assert auth_client.get(url, {"limit": 1, "cursor": issued, **params}).status_code == 200

    response = auth_client.get(url, {"limit": 1, "cursor": ATTACKS[attack](issued), **params})

    assert response.status_code == 400, response.content
    assert response.json() == INVALID_CURSOR


def test_a_cursor_of_one_list_is_refused_by_another(auth_client, lists):
    statement = "/api/accounts/{account_id}/entries".format_map(lists)

    response = auth_client.get("/api/transactions", {"cursor": _issued_cursor(auth_client, statement)})

    assert response.status_code == 400
    assert response.json() == INVALID_CURSOR
