"""Cross-site request forgery: a browser carries the `token` cookie to any site's form, so every
cookie-authenticated write must echo the csrftoken cookie in X-CSRFToken.

Run against each route that moves money or creates something, as the browser of a logged-in
customer or system user. tests/authn/test_csrf.py covers the mechanics on one route.
"""

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import Account
from authn.exceptions import CsrfFailedError
from authn.services import tokens_issue
from tests.factories import PASSWORD, AccountFactory, UserFactory, funded_account
from transactions.models import Transaction

CSRF_FAILED = {"message": CsrfFailedError.message, "code": "csrf_failed"}


def _logged_in_browser(user):
    browser = APIClient(enforce_csrf_checks=True)
    response = browser.post("/api/auth/login", {"email": user.email, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return browser


@pytest.fixture
def world(user, system_user):
    """The customer's funded account, a payee, and a completed transfer a system user could reverse."""
    source = funded_account("100.00", owner=user)
    payee = AccountFactory(owner=UserFactory())
    paid = APIClient()
    paid.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user)[0]}")
    body = {"fromAccount": str(source.id), "toAccount": str(payee.id), "amount": "1", "idempotencyKey": "earlier"}
    assert paid.post("/api/transactions", body, format="json").status_code == 201
    return {
        "customer": user,
        "system": system_user,
        "source": source,
        "payee": payee,
        "paid": Transaction.objects.get(idempotency__key="earlier"),
    }


# (who is logged in, path, body): every cookie-authenticated write.
ROUTES = [
    pytest.param(
        "customer",
        "/api/transactions",
        lambda w: {"fromAccount": str(w["source"].id), "toAccount": str(w["payee"].id), "amount": "99"},
        id="transfer",
    ),
    pytest.param("customer", "/api/accounts", lambda w: {"currency": "USD"}, id="open-account"),
    pytest.param(
        "system",
        "/api/transactions/system/initial-funds",
        lambda w: {"toAccount": str(w["payee"].id), "amount": "1000"},
        id="initial-funds",
    ),
    pytest.param("system", "/api/transactions/{paid}/reverse", lambda w: {}, id="reverse"),
]


def _post(browser, world, path, body, **headers):
    return browser.post(
        path.format(paid=world["paid"].id), {**body(world), "idempotencyKey": "forged"}, format="json", **headers
    )


def _state():
    return list(Transaction.objects.values_list("id", "status")), list(Account.objects.values_list("id", "balance"))


def _attackers_csrf_token():
    return _logged_in_browser(UserFactory()).cookies[settings.CSRF_COOKIE_NAME].value


@pytest.mark.parametrize("who, path, body", ROUTES)
@pytest.mark.parametrize("csrf", ["none", "attackers-own"])
def test_a_cookie_write_without_the_csrf_token_changes_nothing(world, who, path, body, csrf):
    """The forged page cannot read the victim's csrftoken cookie; the best it can send is none,
    or a valid token of the attacker's own session."""
    browser = _logged_in_browser(world[who])
    headers = {"HTTP_X_CSRFTOKEN": _attackers_csrf_token()} if csrf == "attackers-own" else {}
    before = _state()

    response = _post(browser, world, path, body, **headers)

    assert response.status_code == 403, response.content
    assert response.json() == CSRF_FAILED
    assert _state() == before


@pytest.mark.parametrize("who, path, body", ROUTES)
def test_a_cookie_write_with_the_csrf_token_works(world, who, path, body):
    browser = _logged_in_browser(world[who])

    response = _post(browser, world, path, body, HTTP_X_CSRFTOKEN=browser.cookies[settings.CSRF_COOKIE_NAME].value)

    assert response.status_code == 201, response.content


@pytest.mark.parametrize("who, path, body", ROUTES)
def test_a_bearer_write_needs_no_csrf_token(world, who, path, body):
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=world[who])[0]}")

    assert _post(client, world, path, body).status_code == 201
