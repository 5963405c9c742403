"""The transaction admin: read-only views of an append-only ledger, and the reverse action."""

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from authn.exceptions import NotSystemUserError
from tests.factories import AccountFactory, UserFactory, funded_account
from transactions.exceptions import AlreadyReversedError
from transactions.models import LedgerEntry, Transaction
from transactions.services import transaction_reverse, transfer_create

from .state import assert_ledger_ok

TRANSACTIONS = "/admin/transactions/transaction/"
ENTRIES = "/admin/transactions/ledgerentry/"


@pytest.fixture
def operator(db):
    return UserFactory(is_staff=True, is_superuser=True, is_system=True)


@pytest.fixture
def admin_client(operator):
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def completed(user, other_user):
    source = funded_account("100.00", owner=user)
    target = AccountFactory(owner=other_user)
    return transfer_create(
        initiator=user, from_account_id=source.id, to_account_id=target.id, amount=Decimal("40"), idempotency_key="k"
    ).transaction


def reverse_selected(admin_client, transactions):
    return admin_client.post(
        TRANSACTIONS,
        {"action": "reverse_selected", "_selected_action": [str(t.id) for t in transactions], "index": 0},
        follow=True,
    )


def messages_of(response):
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def test_changelists(admin_client, completed):
    transactions = admin_client.get(TRANSACTIONS)
    entries = admin_client.get(ENTRIES)

    assert transactions.status_code == 200
    assert str(completed.id) in transactions.content.decode()
    assert "40.00 INR" in transactions.content.decode()
    assert entries.status_code == 200
    assert entries.context["cl"].result_count == LedgerEntry.objects.count() == 4


def test_detail_pages_are_view_only(admin_client, completed):
    entry = completed.entries.first()

    for url in (f"{TRANSACTIONS}{completed.id}/change/", f"{ENTRIES}{entry.id}/change/"):
        response = admin_client.get(url)
        assert response.status_code == 200
        assert not response.context["has_change_permission"]
        assert not response.context["has_delete_permission"]


@pytest.mark.parametrize("url", [f"{TRANSACTIONS}add/", f"{ENTRIES}add/"])
def test_nothing_can_be_added(admin_client, url):
    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {}).status_code == 403
    assert not Transaction.objects.exists()


def test_nothing_can_be_changed_or_deleted(admin_client, completed):
    entry = completed.entries.first()

    change = admin_client.post(f"{TRANSACTIONS}{completed.id}/change/", {"status": "FAILED", "amount": 1})
    delete = admin_client.post(f"{TRANSACTIONS}{completed.id}/delete/", {"post": "yes"})
    delete_entry = admin_client.post(f"{ENTRIES}{entry.id}/delete/", {"post": "yes"})

    assert (change.status_code, delete.status_code, delete_entry.status_code) == (403, 403, 403)
    completed.refresh_from_db()
    assert (completed.status, completed.amount) == ("COMPLETED", 40_00)
    assert LedgerEntry.objects.filter(id=entry.id).exists()


def test_no_bulk_delete_action(admin_client, completed):
    response = admin_client.get(TRANSACTIONS)

    actions = [name for name, _ in response.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in actions
    assert "reverse_selected" in actions


def test_reverse_selected(admin_client, operator, completed):
    response = reverse_selected(admin_client, [completed])

    assert response.status_code == 200
    completed.refresh_from_db()
    assert completed.status == Transaction.Status.REVERSED
    reversal = completed.reversals.get()
    assert (reversal.kind, reversal.status, reversal.initiator) == ("REVERSAL", "COMPLETED", operator)
    assert reversal.reason == f"Reversed in the admin by {operator.email}"
    assert messages_of(response) == [("success", f"{completed.id}: reversed by {reversal.id}.")]
    assert_ledger_ok()


def test_reverse_selected_twice_replays(admin_client, completed):
    reverse_selected(admin_client, [completed])

    response = reverse_selected(admin_client, [completed])

    assert Transaction.objects.filter(kind="REVERSAL").count() == 1
    reversal = Transaction.objects.get(kind="REVERSAL")
    assert messages_of(response) == [("success", f"{completed.id}: reversed by {reversal.id}.")]
    assert_ledger_ok()


def test_reverse_selected_reports_what_cannot_be_reversed(admin_client, completed, other_user):
    source = funded_account("5.00", owner=other_user)
    other = transfer_create(
        initiator=other_user,
        from_account_id=source.id,
        to_account_id=completed.from_account_id,
        amount=Decimal("5"),
        idempotency_key="x",
    ).transaction
    # Reversed elsewhere first, under another key: the admin's attempt is refused, not replayed.
    transaction_reverse(initiator=UserFactory(is_system=True), transaction_id=other.id, idempotency_key="api")

    response = reverse_selected(admin_client, [completed, other])

    assert ("error", f"{other.id}: {AlreadyReversedError.message}") in messages_of(response)
    assert Transaction.objects.get(id=completed.id).status == "REVERSED"
    assert_ledger_ok()


def test_reverse_selected_reports_a_decline(admin_client, completed, other_user):
    # The receiver spends the money; the reversal is declined and recorded as FAILED.
    transfer_create(
        initiator=other_user,
        from_account_id=completed.to_account_id,
        to_account_id=AccountFactory().id,
        amount=Decimal("40"),
        idempotency_key="spend",
    )

    response = reverse_selected(admin_client, [completed])

    assert messages_of(response) == [("error", f"{completed.id}: reversal declined (insufficient_funds).")]
    assert Transaction.objects.get(id=completed.id).status == "COMPLETED"
    assert Transaction.objects.get(kind="REVERSAL").status == "FAILED"
    assert_ledger_ok()


def test_reverse_selected_needs_a_system_user(db, completed):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)

    response = reverse_selected(client, [completed])

    assert messages_of(response) == [("error", f"{completed.id}: {NotSystemUserError.message}")]
    assert Transaction.objects.get(id=completed.id).status == "COMPLETED"
    assert not Transaction.objects.filter(kind="REVERSAL").exists()


def test_the_admin_is_for_staff_only(user):
    browser = Client()
    browser.force_login(user)

    response = browser.get(TRANSACTIONS)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
