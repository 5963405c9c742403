"""Replica reads (ledger_project/db_router.py): with DATABASE_REPLICA_URL the stale-tolerant lists
read the replica alias and everything a client reads right after writing stays on the primary;
without it everything reads the primary. The replica alias here is a second connection to the
same test database, so which connection ran a query proves where it was routed."""

import copy
from datetime import timedelta
from urllib.parse import urlencode

import environ
import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ledger_project.db_router import REPLICA_ALIAS, replica_alias
from tests.factories import funded_account
from tests.transactions.requests import TRANSACTIONS, transfer_body
from transactions.selectors import ledger_entry_list, transaction_list

HA_URL = "postgres://app@10.0.0.1:5432,10.0.0.2:5433/ledger?target_session_attrs=read-write&connect_timeout=2"


@pytest.fixture(scope="class")
def replica_configured(django_db_setup, django_db_blocker):
    """A `replica` alias mirroring the primary's test database, in settings before the test's
    database access is set up (a class-scoped fixture comes before pytest-django's per-test one,
    which refuses aliases a test does not declare), removed after the class."""
    settings.DATABASES[REPLICA_ALIAS] = {
        **copy.deepcopy(connections[DEFAULT_DB_ALIAS].settings_dict),
        "TEST": {"MIRROR": DEFAULT_DB_ALIAS},
    }
    yield
    with django_db_blocker.unblock():
        connections[REPLICA_ALIAS].close()
        connections[REPLICA_ALIAS].close_pool()
    del connections[REPLICA_ALIAS]
    del settings.DATABASES[REPLICA_ALIAS]


@pytest.fixture
def ours(user, other_user):
    return funded_account("100.00", owner=user), funded_account("100.00", owner=other_user)


def queries_on(alias, call):
    with CaptureQueriesContext(connections[alias]) as captured:
        response = call()
    return response, len(captured)


def test_multi_host_database_url_parses_into_libpq_host_and_port_lists():
    """The HA DATABASE_URL (README, "High availability"): django-environ keeps both hosts, which
    Django hands to psycopg as libpq's comma-separated host and port, and the session attribute."""
    config = environ.Env.db_url_config(HA_URL)
    assert config["HOST"] == "10.0.0.1,10.0.0.2"
    assert config["PORT"] == "5432,5433"
    assert config["NAME"] == "ledger"
    assert config["OPTIONS"] == {"target_session_attrs": "read-write", "connect_timeout": 2}


@pytest.mark.django_db
def test_without_a_replica_everything_reads_the_primary(user, ours):
    mine, _ = ours
    assert REPLICA_ALIAS not in settings.DATABASES
    assert replica_alias() == DEFAULT_DB_ALIAS
    assert transaction_list(user=user).db == DEFAULT_DB_ALIAS
    assert ledger_entry_list(account=mine).db == DEFAULT_DB_ALIAS


# Transactional: the replica alias is a second connection, which sees only committed rows, as a
# real replica would.
@pytest.mark.usefixtures("replica_configured")
@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA_ALIAS])
class TestWithAReplica:
    def test_lists_and_statements_read_the_replica(self, auth_client, user, ours):
        mine, _ = ours
        response, on_replica = queries_on(REPLICA_ALIAS, lambda: auth_client.get(TRANSACTIONS))
        assert response.status_code == 200 and len(response.json()["transactions"]) == 1
        assert on_replica >= 1
        response, on_replica = queries_on(REPLICA_ALIAS, lambda: auth_client.get(f"/api/accounts/{mine.id}/entries"))
        assert response.status_code == 200 and len(response.json()["entries"]) == 1
        assert on_replica >= 1
        now = timezone.now()
        period = urlencode({"from": (now - timedelta(days=1)).isoformat(), "to": (now + timedelta(days=1)).isoformat()})
        response, on_replica = queries_on(
            REPLICA_ALIAS, lambda: auth_client.get(f"/api/accounts/{mine.id}/statement?{period}")
        )
        assert response.status_code == 200 and response.json()["count"] == len(response.json()["entries"]) == 1
        assert on_replica == 2  # the head (one statement) and the page

    def test_writes_their_replays_balance_and_detail_stay_on_the_primary(self, auth_client, ours):
        mine, theirs = ours
        body = transfer_body(mine, theirs, "10.00", key="replica-key")
        for path_call in (
            lambda: auth_client.post(TRANSACTIONS, body, format="json"),  # the write's own answer
            lambda: auth_client.post(TRANSACTIONS, body, format="json"),  # its idempotent replay
            lambda: auth_client.get(f"/api/accounts/balance/{mine.id}"),
            lambda: auth_client.get(f"/api/accounts/{mine.id}"),
        ):
            response, on_replica = queries_on(REPLICA_ALIAS, path_call)
            assert response.status_code in (200, 201), response.content
            assert on_replica == 0
        created = auth_client.get(TRANSACTIONS).json()["transactions"][0]["id"]
        response, on_replica = queries_on(REPLICA_ALIAS, lambda: auth_client.get(f"{TRANSACTIONS}/{created}"))
        assert response.status_code == 200 and on_replica == 0

    def test_inside_an_atomic_block_the_replica_alias_is_the_primary(self, user):
        assert replica_alias() == REPLICA_ALIAS
        with transaction.atomic():
            assert replica_alias() == DEFAULT_DB_ALIAS
            assert transaction_list(user=user).db == DEFAULT_DB_ALIAS
