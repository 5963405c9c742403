"""A request that already waited too long behind the proxy is answered 503 and never run
(ledger_project.middleware.RequestQueueTimeoutMiddleware); the stamp counts only behind a
trusted proxy."""

import time

import pytest

from tests.factories import AccountFactory, funded_account
from tests.transactions.requests import TRANSACTIONS
from transactions.models import Transaction

UNAVAILABLE = {"message": "The service is temporarily unavailable. Retry later.", "code": "service_unavailable"}


@pytest.fixture
def behind_proxy(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.REQUEST_QUEUE_TIMEOUT_MS = 2000
    return settings


def transfer(auth_client, user, stamp):
    source, target = funded_account("100.00", owner=user), AccountFactory()
    body = {"fromAccount": str(source.id), "toAccount": str(target.id), "amount": "1.00", "idempotencyKey": "queued"}
    return auth_client.post(TRANSACTIONS, body, format="json", HTTP_X_REQUEST_START=stamp)


def test_a_request_that_waited_too_long_is_503_and_never_runs(behind_proxy, auth_client, user):
    response = transfer(auth_client, user, f"t={time.time() - 3:.3f}")

    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert response["Retry-After"] == "1"
    assert not Transaction.objects.filter(idempotency__key="queued").exists()


def test_a_request_that_did_not_wait_runs(behind_proxy, auth_client, user):
    assert transfer(auth_client, user, f"t={time.time():.3f}").status_code == 201


def test_without_a_trusted_proxy_the_stamp_is_the_clients_and_ignored(settings, auth_client, user):
    settings.TRUSTED_PROXY_COUNT = 0

    assert transfer(auth_client, user, "t=1.000").status_code == 201


@pytest.mark.parametrize("stamp", ["", "t=", "t=soon", "t=nan", "t=inf", "t=-inf", "1e999"])
def test_an_unreadable_stamp_is_no_reason_to_refuse(behind_proxy, auth_client, user, stamp):
    assert transfer(auth_client, user, stamp).status_code == 201


def test_a_stamp_from_a_clock_ahead_of_ours_is_no_reason_to_refuse(behind_proxy, auth_client, user):
    assert transfer(auth_client, user, f"t={time.time() + 60:.3f}").status_code == 201
