import uuid

import pytest
from django.conf import settings

from accounts.exceptions import AccountNotFoundError, UnsupportedCurrencyError
from accounts.models import Account
from tests.factories import AccountFactory, funded_account

ACCOUNTS = "/api/accounts"
NOT_FOUND = {"message": AccountNotFoundError.message, "code": "not_found"}


LIMIT_NAMES = (
    "overdraftLimit",
    "maxBalance",
    "perTransferMax",
    "dailyDebitAmount",
    "dailyDebitCount",
    "monthlyDebitAmount",
)


def account_json(account):
    return {
        "id": str(account.id),
        "status": account.status,
        "currency": account.currency,
        "balance": "0.00",
        "held": "0.00",
        "available": "0.00",
        "limits": dict.fromkeys(LIMIT_NAMES),
        "metadata": account.metadata,
        "createdAt": account.created_at.isoformat().replace("+00:00", "Z"),
        "updatedAt": account.updated_at.isoformat().replace("+00:00", "Z"),
    }


# --- open -----------------------------------------------------------------------------------


@pytest.mark.parametrize("body, currency", [({}, "INR"), ({"currency": "USD"}, "USD")])
def test_open_account(auth_client, user, body, currency):
    response = auth_client.post(ACCOUNTS, body, format="json")

    assert response.status_code == 201, response.content
    account = Account.objects.get()
    assert (account.owner, account.currency, account.status, account.balance) == (user, currency, "ACTIVE", 0)
    assert response.json() == {"account": account_json(account)}


@pytest.mark.parametrize("currency", ["XYZ", "usd", "JPY"])
def test_open_account_in_an_unsupported_currency(auth_client, currency):
    response = auth_client.post(ACCOUNTS, {"currency": currency}, format="json")

    assert response.status_code == 400
    supported = ", ".join(settings.SUPPORTED_CURRENCIES)
    assert response.json() == {
        "message": UnsupportedCurrencyError.message,
        "code": "validation_error",
        "errors": {"currency": [f"Supported currencies: {supported}."]},
    }
    assert not Account.objects.exists()


def test_open_account_ignores_fields_that_are_not_the_clients(auth_client, user, other_user):
    chosen_id = uuid.uuid4()
    body = {"balance": 1000, "status": "FROZEN", "owner": str(other_user.id), "id": str(chosen_id), "isSystem": True}

    response = auth_client.post(ACCOUNTS, body, format="json")

    assert response.status_code == 201, response.content
    account = Account.objects.get()
    assert (account.owner, account.status, account.balance, account.is_system) == (user, "ACTIVE", 0, False)
    assert account.id != chosen_id


# --- read -----------------------------------------------------------------------------------


def test_list_shows_only_own_accounts_oldest_first(auth_client, user, other_user):
    mine = [AccountFactory(owner=user), AccountFactory(owner=user, currency="USD")]
    AccountFactory(owner=other_user)

    response = auth_client.get(ACCOUNTS)

    assert response.status_code == 200
    assert response.json() == {"accounts": [account_json(a) for a in mine], "next": None}


def test_list_when_there_are_none(auth_client):
    assert auth_client.get(ACCOUNTS).json() == {"accounts": [], "next": None}


def test_list_pages_like_the_other_lists(auth_client, user):
    mine = [AccountFactory(owner=user) for _ in range(5)]
    seen, url = [], f"{ACCOUNTS}?limit=2"

    while url:
        body = auth_client.get(url).json()
        assert len(body["accounts"]) <= 2
        seen.extend(account["id"] for account in body["accounts"])
        url = body["next"]

    assert seen == [str(account.id) for account in mine]


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("limit=201", "limit"), ("cursor=garbage", "cursor")])
def test_list_refuses_a_bad_limit_or_cursor(auth_client, account, query, field):
    response = auth_client.get(f"{ACCOUNTS}?{query}")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_detail(auth_client, account):
    response = auth_client.get(f"{ACCOUNTS}/{account.id}")

    assert response.status_code == 200
    assert response.json() == {"account": account_json(account)}


def test_balance_of_a_new_account(auth_client, account):
    response = auth_client.get(f"{ACCOUNTS}/balance/{account.id}")

    assert response.status_code == 200
    assert response.json() == {
        "accountId": str(account.id),
        "balance": "0.00",
        "held": "0.00",
        "available": "0.00",
        "currency": "INR",
    }


@pytest.mark.parametrize("amount, currency, text", [("500.5", "INR", "500.50"), ("0.07", "USD", "0.07")])
def test_balance_has_the_currencys_places(auth_client, user, amount, currency, text):
    account = funded_account(amount, owner=user, currency=currency)

    response = auth_client.get(f"{ACCOUNTS}/balance/{account.id}")

    zero = "0" if currency == "JPY" else "0.00"
    assert response.json() == {
        "accountId": str(account.id),
        "balance": text,
        "held": zero,
        "available": text,
        "currency": currency,
    }
    assert auth_client.get(f"{ACCOUNTS}/{account.id}").json()["account"]["balance"] == text


ACCOUNT_ROUTES = ["/api/accounts/{id}", "/api/accounts/balance/{id}"]


@pytest.mark.parametrize("route", ACCOUNT_ROUTES)
def test_another_users_account_is_not_found(auth_client, other_user, route):
    theirs = AccountFactory(owner=other_user)

    response = auth_client.get(route.format(id=theirs.id))

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


@pytest.mark.parametrize("route", ACCOUNT_ROUTES)
def test_unknown_account_is_not_found(auth_client, route):
    response = auth_client.get(route.format(id=uuid.uuid4()))

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


@pytest.mark.parametrize(
    "path", ["/api/accounts/not-a-uuid", "/api/accounts/balance/123", "/api/accounts/balance/", "/api/accounts/"]
)
def test_malformed_account_ids_are_not_found(auth_client, path):
    response = auth_client.get(path)

    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "code": "not_found"}


@pytest.mark.parametrize(
    "method, path",
    [("get", ACCOUNTS), ("post", ACCOUNTS), ("get", "/api/accounts/{id}"), ("get", "/api/accounts/balance/{id}")],
)
def test_account_routes_need_a_token(client, account, method, path):
    response = getattr(client, method)(path.format(id=account.id), format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
