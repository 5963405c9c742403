import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from authn.services import tokens_issue

from .factories import AccountFactory, UserFactory


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    # Throttle counters live in Redis (the test settings give the suite its own database).
    cache.clear()
    yield


@pytest.fixture
def client():
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


def bearer_client(user):
    access, _ = tokens_issue(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return api


@pytest.fixture
def auth_client(user):
    """An API client authenticated as `user` with a bearer token."""
    return bearer_client(user)


@pytest.fixture
def other_client(other_user):
    return bearer_client(other_user)


@pytest.fixture
def account(user):
    return AccountFactory(owner=user)
