"""GET /api/health is public, so it says only whether the service is up (issue 9, item 10).

It used to show anyone the newest audit: counts of accounts, transactions and entries, and on a
violation the offending ids. Now only staff and system users (signed in as anywhere else) see
the details, unless HEALTH_DETAILS_PUBLIC opens them to all.
"""

import uuid

import pytest
from django.utils import timezone

from tests.conftest import bearer_client
from tests.factories import UserFactory
from transactions.models import LedgerAudit

HEALTH = "/api/health"
OFFENDER = str(uuid.uuid4())


@pytest.fixture
def violated_audit(db):
    """The newest audit found a broken invariant, naming the account."""
    now = timezone.now()
    summary = f"ledger VIOLATED: 7 accounts, 9 transactions, 16 entries, 8 checks\n  VIOLATION balance: {OFFENDER}"
    return LedgerAudit.objects.create(
        started_at=now, finished_at=now, ok=False, summary=summary, violations={"balance": [OFFENDER]}
    )


@pytest.mark.parametrize("who", ["anonymous", "customer"])
def test_the_public_sees_no_audit(client, violated_audit, who):
    caller = client if who == "anonymous" else bearer_client(UserFactory())

    response = caller.get(HEALTH)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert OFFENDER not in response.content.decode()
    assert "accounts" not in response.content.decode()


@pytest.mark.parametrize("flag", ["is_staff", "is_system"])
def test_operators_see_the_audit(violated_audit, flag):
    body = bearer_client(UserFactory(**{flag: True})).get(HEALTH).json()

    assert body["lastAudit"]["summary"] == violated_audit.summary
    assert (body["database"], body["redis"], body["lastAudit"]["ok"]) == ("ok", "ok", False)


def test_a_deployment_may_make_the_details_public(client, violated_audit, settings):
    settings.HEALTH_DETAILS_PUBLIC = True

    assert OFFENDER in client.get(HEALTH).json()["lastAudit"]["summary"]


def test_a_bad_token_is_refused_not_ignored(client, violated_audit):
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    response = client.get(HEALTH)

    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"
