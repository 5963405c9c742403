import base64
import json

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db.backends.postgresql.operations import DatabaseOperations
from rest_framework.test import APIClient

from authn.services import tokens_issue
from ledger_project.throttling import throttle_state_reset

from .factories import AccountFactory, SystemUserFactory, UserFactory


@pytest.fixture(scope="session", autouse=True)
def _flush_may_truncate_the_ledger():
    """Transactional tests end with Django's flush, a TRUNCATE; the ledger's triggers refuse
    that unless the transaction first says it means to (transactions/migrations/0002_ledger_guards.sql)."""
    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        return original(self, ["SET LOCAL ledger.allow_truncate = 'on'", *sql_list])

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    # Throttle counters live in Redis (the test settings give the suite its own database, the
    # cache's); a circuit a test opened is closed again.
    cache.clear()
    throttle_state_reset()
    yield


class Broker:
    """The default Celery queue on the test broker: a Redis list named "celery" (kombu LPUSHes
    each message as JSON with a base64 body)."""

    queue = "celery"

    def __init__(self, url):
        self.redis = redis.Redis.from_url(url)

    def clear(self):
        self.redis.delete(self.queue)

    def published(self):
        """(task name, args) of every waiting message, oldest first."""
        messages = [json.loads(raw) for raw in reversed(self.redis.lrange(self.queue, 0, -1))]
        return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[0]) for m in messages]


@pytest.fixture
def broker():
    """The test broker with an empty queue; no worker consumes it, so published tasks stay there."""
    broker = Broker(settings.CELERY_BROKER_URL)
    broker.clear()
    yield broker
    broker.clear()


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


@pytest.fixture
def system_user(db):
    return SystemUserFactory()


@pytest.fixture
def system_client(system_user):
    """An API client authenticated as a system user (funding, reversals)."""
    return bearer_client(system_user)
