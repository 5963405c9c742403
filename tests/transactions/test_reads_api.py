"""Reading transactions and statements: only what touches the caller's accounts, newest first,
cursor-paginated."""

import base64
import uuid

import pytest
from django.db.models import Q

from accounts.exceptions import AccountNotFoundError
from accounts.money import format_minor
from tests.factories import AccountFactory, account_fund, funded_account, transfer
from transactions.exceptions import TransactionNotFoundError
from transactions.models import LedgerEntry, Transaction
from transactions.services import transaction_reverse

from .requests import TRANSACTIONS
from .responses import iso, transaction_json


def entries_url(account_id):
    return f"/api/accounts/{account_id}/entries"


def cursor(raw: str) -> str:
    """A cursor as DRF encodes one (base64 of a query string), with whatever content we like."""
    return base64.b64encode(raw.encode()).decode()


def ids(items):
    return [item["id"] for item in items]


def all_pages(client, url):
    """Follow `next` from `url` to the end; every page's items, in order."""
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append(body.get("transactions", body.get("entries")))
        url = body["next"]
    return pages


@pytest.fixture
def mine(user):
    return funded_account("100.00", owner=user)


@pytest.fixture
def theirs(other_user):
    return funded_account("100.00", owner=other_user)


# --- GET /api/transactions ------------------------------------------------------------------


def test_list_shows_only_transactions_touching_my_accounts_newest_first(auth_client, user, mine, theirs):
    my_dollars = funded_account("5.00", owner=user, currency="USD")
    sent = transfer(mine, theirs, "10.00")
    received = transfer(theirs, mine, "3.00")
    declined = transfer(mine, theirs, "500.00")
    strangers = transfer(theirs, AccountFactory(), "1.00")  # not mine: must not show
    fundings = list(
        Transaction.objects.filter(kind="FUNDING", to_account__in=[mine, my_dollars]).order_by("created_at")
    )

    response = auth_client.get(TRANSACTIONS)

    assert response.status_code == 200
    expected = [declined, received, sent, *reversed(fundings)]
    assert response.json() == {"transactions": [transaction_json(t, viewer=user) for t in expected], "next": None}
    assert str(strangers.id) not in ids(response.json()["transactions"])


def test_list_when_there_are_none(auth_client, account):
    assert auth_client.get(TRANSACTIONS).json() == {"transactions": [], "next": None}


def test_list_filtered_by_account(auth_client, user, mine, theirs):
    second = funded_account("10.00", owner=user)
    on_mine = transfer(mine, theirs, "1.00")
    on_second = transfer(second, theirs, "2.00")

    response = auth_client.get(TRANSACTIONS, {"account": str(second.id)})

    assert response.status_code == 200
    funding_of_second = Transaction.objects.get(to_account=second, kind="FUNDING")
    assert ids(response.json()["transactions"]) == [str(on_second.id), str(funding_of_second.id)]
    assert str(on_mine.id) not in ids(response.json()["transactions"])


def test_filtering_by_another_users_account_shows_nothing(auth_client, mine, theirs):
    transfer(theirs, AccountFactory(), "1.00")

    response = auth_client.get(TRANSACTIONS, {"account": str(theirs.id)})

    assert response.status_code == 200
    assert response.json() == {"transactions": [], "next": None}


@pytest.mark.parametrize("status", ["COMPLETED", "FAILED", "REVERSED"])
def test_list_filtered_by_status(auth_client, system_user, mine, theirs, status):
    completed = transfer(mine, theirs, "1.00")
    failed = transfer(mine, theirs, "1000.00")
    reversed_ = transfer(mine, theirs, "2.00")
    reversal = transaction_reverse(
        initiator=system_user, transaction_id=reversed_.id, idempotency_key="undo"
    ).transaction
    funding = Transaction.objects.get(to_account=mine, kind="FUNDING")

    response = auth_client.get(TRANSACTIONS, {"status": status})

    assert response.status_code == 200
    expected = {"COMPLETED": [reversal, completed, funding], "FAILED": [failed], "REVERSED": [reversed_]}[status]
    assert ids(response.json()["transactions"]) == [str(t.id) for t in expected]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"status": "DONE"}, "status"),
        ({"status": "completed"}, "status"),
        ({"account": "not-a-uuid"}, "account"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"limit": "٣"}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": cursor("p=2024")}, "cursor"),
        ({"cursor": cursor("p=abc")}, "cursor"),
        ({"cursor": cursor("o=-1")}, "cursor"),
    ],
)
def test_list_rejects_bad_parameters(auth_client, mine, params, field):
    response = auth_client.get(TRANSACTIONS, params)

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "validation_error"
    assert list(body["errors"]) == [field]


@pytest.mark.parametrize("limit, count, more", [("1", 1, True), ("2", 2, False), ("200", 2, False)])
def test_limit_bounds_are_accepted(auth_client, mine, theirs, limit, count, more):
    transfer(mine, theirs, "1.00")

    response = auth_client.get(TRANSACTIONS, {"limit": limit})

    assert response.status_code == 200, response.content
    assert len(response.json()["transactions"]) == count
    assert (response.json()["next"] is not None) == more


@pytest.mark.parametrize("limit", [1, 3, 4, 11, 50])
def test_following_next_visits_every_transaction_exactly_once(auth_client, mine, theirs, limit):
    for _ in range(5):
        transfer(mine, theirs, "1.00")
        transfer(theirs, mine, "0.50")
    transfer(mine, theirs, "10000.00")  # a FAILED one is listed too
    touching_mine = Transaction.objects.filter(Q(from_account=mine) | Q(to_account=mine))
    expected = list(touching_mine.order_by("-created_at", "-id").values_list("id", flat=True))
    assert len(expected) == 12

    pages = all_pages(auth_client, f"{TRANSACTIONS}?limit={limit}")

    assert [len(page) for page in pages[:-1]] == [limit] * (len(pages) - 1)
    assert [item["id"] for page in pages for item in page] == [str(i) for i in expected]


def test_pagination_keeps_the_filters(auth_client, mine, theirs):
    for _ in range(3):
        transfer(mine, theirs, "1.00")
        transfer(mine, theirs, "1000.00")

    pages = all_pages(auth_client, f"{TRANSACTIONS}?status=FAILED&limit=2")

    assert [len(page) for page in pages] == [2, 1]
    assert {item["status"] for page in pages for item in page} == {"FAILED"}


def test_list_needs_authentication(client, mine):
    response = client.get(TRANSACTIONS)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- GET /api/transactions/{id} -------------------------------------------------------------


def test_detail_for_either_side(auth_client, user, other_client, other_user, mine, theirs):
    txn = transfer(mine, theirs, "12.34")

    for client, viewer in ((auth_client, user), (other_client, other_user)):
        response = client.get(f"{TRANSACTIONS}/{txn.id}")

        assert response.status_code == 200
        assert response.json() == {"transaction": transaction_json(txn, viewer=viewer)}
    assert response.json()["transaction"]["amount"] == "12.34"


def test_detail_of_a_failed_transaction(auth_client, mine, theirs):
    txn = transfer(mine, theirs, "1000.00")

    response = auth_client.get(f"{TRANSACTIONS}/{txn.id}")

    assert response.json()["transaction"]["failureReason"] == "insufficient_funds"
    assert response.json()["transaction"]["entries"] == []


def test_detail_of_other_users_transactions_is_404(auth_client, theirs):
    txn = transfer(theirs, AccountFactory(), "1.00")

    response = auth_client.get(f"{TRANSACTIONS}/{txn.id}")
    unknown = auth_client.get(f"{TRANSACTIONS}/{uuid.uuid4()}")

    assert response.status_code == unknown.status_code == 404
    assert response.json() == unknown.json() == {"message": TransactionNotFoundError.message, "code": "not_found"}


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1", "0123"])
def test_detail_with_a_malformed_id(auth_client, bad_id):
    response = auth_client.get(f"{TRANSACTIONS}/{bad_id}")

    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "code": "not_found"}


# --- GET /api/accounts/{id}/entries ---------------------------------------------------------


def test_statement_newest_first(auth_client, mine, theirs):
    out = transfer(mine, theirs, "30.00")
    back = transfer(theirs, mine, "5.25")
    transfer(mine, theirs, "1000.00")  # declined: no entry
    funding = Transaction.objects.get(to_account=mine, kind="FUNDING")

    response = auth_client.get(entries_url(mine.id))

    assert response.status_code == 200
    entries = list(LedgerEntry.objects.filter(account=mine).order_by("-id"))
    assert response.json() == {
        "entries": [
            {
                "id": entry.id,
                "transaction": str(entry.transaction_id),
                "type": entry.type,
                "amount": format_minor(entry.amount, "INR"),
                "balanceAfter": format_minor(entry.balance_after, "INR"),
                "createdAt": iso(entry.created_at),
            }
            for entry in entries
        ],
        "next": None,
    }
    summary = [(e["transaction"], e["type"], e["amount"], e["balanceAfter"]) for e in response.json()["entries"]]
    assert summary == [
        (str(back.id), "CREDIT", "5.25", "75.25"),
        (str(out.id), "DEBIT", "30.00", "70.00"),
        (str(funding.id), "CREDIT", "100.00", "100.00"),
    ]


def test_statement_in_a_currency_with_its_own_places(auth_client, user):
    dollars = funded_account("7.5", owner=user, currency="USD")

    response = auth_client.get(entries_url(dollars.id))

    assert [(e["amount"], e["balanceAfter"]) for e in response.json()["entries"]] == [("7.50", "7.50")]


@pytest.mark.parametrize("limit", [1, 2, 7])
def test_statement_pages(auth_client, mine, theirs, limit):
    for _ in range(3):
        transfer(mine, theirs, "1.00")
        account_fund(mine, "0.01")
    expected = [str(i) for i in LedgerEntry.objects.filter(account=mine).order_by("-id").values_list("id", flat=True)]
    assert len(expected) == 7

    pages = all_pages(auth_client, f"{entries_url(mine.id)}?limit={limit}")

    assert [str(item["id"]) for page in pages for item in page] == expected
    assert all(len(page) == limit for page in pages[:-1])


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "x"},
        {"cursor": "bad"},
        # Well-formed cursors we never issued: their position is not an entry id.
        {"cursor": cursor("p=abc")},
        {"cursor": cursor("r=1&p=2024-01-01")},
    ],
)
def test_statement_rejects_bad_paging(auth_client, mine, params):
    response = auth_client.get(entries_url(mine.id), params)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == list(params)


def test_statement_of_another_users_account_is_404(auth_client, theirs):
    response = auth_client.get(entries_url(theirs.id))
    unknown = auth_client.get(entries_url(uuid.uuid4()))

    assert response.status_code == unknown.status_code == 404
    assert response.json() == unknown.json() == {"message": AccountNotFoundError.message, "code": "not_found"}


def test_statement_with_a_malformed_id(auth_client):
    response = auth_client.get(entries_url("nope"))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
