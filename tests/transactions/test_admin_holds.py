"""The hold admin: read-only lists with filters and links, and the system users' void action."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from tests.factories import AccountFactory, UserFactory, funded_account, hold
from transactions.holds import hold_capture
from transactions.models import Hold

from .state import assert_ledger_ok

HOLDS = "/admin/transactions/hold/"


def logged_in(**flags):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True, **flags))
    return client


@pytest.fixture
def holds(user, other_user):
    source = funded_account("100.00", owner=user)
    target = AccountFactory(owner=other_user)
    pending, captured = hold(source, target, "10.00"), hold(source, target, "20.00")
    hold_capture(initiator=user, hold_id=captured.id, idempotency_key="cap")
    return pending, captured


def void_selected(client, holds):
    return client.post(
        HOLDS, {"action": "void_selected", "_selected_action": [str(h.id) for h in holds], "index": 0}, follow=True
    )


def test_changelist_filters_and_detail(holds):
    pending, captured = holds
    client = logged_in()

    page = client.get(HOLDS).content.decode()
    filtered = client.get(HOLDS, {"status__exact": "CAPTURED", "currency__exact": "INR"}).content.decode()
    detail = client.get(f"{HOLDS}{captured.id}/change/").content.decode()

    assert "10.00 INR" in page and "20.00 INR" in page
    assert str(captured.id) in filtered and str(pending.id) not in filtered
    assert f"/admin/accounts/account/{captured.from_account_id}/change/" in detail
    assert f"/admin/transactions/transaction/{captured.capture.id}/change/" in detail
    assert client.post(f"{HOLDS}{pending.id}/delete/").status_code == 403
    assert client.get(f"{HOLDS}add/").status_code == 403


def test_void_action_is_for_system_users_only(holds):
    pending, captured = holds
    operator, system = logged_in(), logged_in(is_system=True)

    refused = void_selected(operator, [pending])
    done = void_selected(system, [pending, captured])

    assert Hold.objects.get(id=pending.id).status == "VOIDED"
    assert refused.status_code == 200 and "void_selected" not in operator.get(HOLDS).content.decode()
    levels = [m.level_tag for m in get_messages(done.wsgi_request)]
    assert sorted(levels) == ["error", "success"]  # the captured one answers hold_not_pending
    assert_ledger_ok()


def test_holds_are_linked_from_their_account_and_their_capture(holds):
    pending, captured = holds
    client = logged_in()

    account_page = client.get(f"/admin/accounts/account/{pending.from_account_id}/change/").content.decode()
    capture_page = client.get(f"/admin/transactions/transaction/{captured.capture.id}/change/").content.decode()
    listed = client.get(HOLDS, {"q": str(pending.from_account_id)}).content.decode()

    assert f"{HOLDS}?q={pending.from_account_id}" in account_page
    assert f"{HOLDS}{captured.id}/change/" in capture_page
    assert str(pending.id) in listed and str(captured.id) in listed
