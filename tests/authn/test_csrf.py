"""CSRF applies to cookie-authenticated unsafe requests only; the test client is told to enforce
it, as a browser-facing deployment does."""

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import Account
from authn.exceptions import CsrfFailedError
from authn.services import tokens_issue
from tests.factories import PASSWORD

ACCOUNTS = "/api/accounts"


@pytest.fixture
def cookie_client(user):
    """Logged in through the API, so it holds the `token` and `csrftoken` cookies a browser would."""
    client = APIClient(enforce_csrf_checks=True)
    response = client.post("/api/auth/login", {"email": user.email, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return client


def test_cookie_post_without_csrf_token_is_refused(cookie_client):
    response = cookie_client.post(ACCOUNTS, {}, format="json")

    assert response.status_code == 403
    assert response.json() == {"message": CsrfFailedError.message, "code": "csrf_failed"}
    assert not Account.objects.exists()


def test_cookie_post_with_a_wrong_csrf_token_is_refused(cookie_client):
    response = cookie_client.post(ACCOUNTS, {}, format="json", HTTP_X_CSRFTOKEN="x" * 32)

    assert response.status_code == 403
    assert not Account.objects.exists()


def test_cookie_post_echoing_the_csrf_cookie_passes(cookie_client, user):
    csrf_token = cookie_client.cookies[settings.CSRF_COOKIE_NAME].value

    response = cookie_client.post(ACCOUNTS, {}, format="json", HTTP_X_CSRFTOKEN=csrf_token)

    assert response.status_code == 201, response.content
    assert Account.objects.get().owner == user


def test_cookie_get_needs_no_csrf_token(cookie_client):
    assert cookie_client.get(ACCOUNTS).status_code == 200


def test_bearer_post_needs_no_csrf_token(user):
    client = APIClient(enforce_csrf_checks=True)
    access, _ = tokens_issue(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")

    response = client.post(ACCOUNTS, {}, format="json")

    assert response.status_code == 201, response.content
