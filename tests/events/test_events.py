"""Every committed change has its events, one per user who may see it, each showing exactly what
the API shows that user (the event's data equals that user's GET of the object); a rolled-back
write leaves none; nothing of another user's leaks into an event."""

import sys
import threading
import uuid
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from accounts.services import account_close, account_freeze, account_open, account_unfreeze, funding_account_ensure
from events.models import Event
from events.services import transaction_event_rows
from tests.conftest import bearer_client
from tests.factories import (
    AccountFactory,
    SystemUserFactory,
    UserFactory,
    account_fund,
    funded_account,
    hold,
    transfer,
)
from transactions import holds as hold_services
from transactions import services as ledger_services
from transactions.audit import ledger_verify
from transactions.holds import hold_capture, hold_void, holds_expire
from transactions.models import Transaction
from transactions.selectors import transaction_get
from transactions.services import transaction_reverse

pytestmark = pytest.mark.django_db


def events_of(user, type=None):
    queryset = Event.objects.filter(user=user).order_by("created_at", "id")
    return list(queryset.filter(type=type) if type else queryset)


def api_get(user, url, key):
    response = bearer_client(user).get(url)
    assert response.status_code == 200, response.json()
    return response.json()[key]


def only_event(user, type):
    events = events_of(user, type)
    assert len(events) == 1, events
    return events[0]


@pytest.fixture
def alice():
    return UserFactory()


@pytest.fixture
def bob():
    return UserFactory()


@pytest.fixture
def alice_account(alice):
    return funded_account("100.00", owner=alice)


@pytest.fixture
def bob_account(bob):
    return AccountFactory(owner=bob)


# --- transactions ---------------------------------------------------------------------------------


def test_a_transfer_between_two_users_is_one_event_each_showing_what_each_may_see(
    alice, bob, alice_account, bob_account
):
    Event.objects.all().delete()
    txn = transfer(alice_account, bob_account, "40.00", key="alice-key")

    for user in (alice, bob):
        event = only_event(user, "transaction.completed")
        assert event.data == api_get(user, f"/api/transactions/{txn.id}", "transaction")
        assert event.created_at == txn.created_at
    assert Event.objects.count() == 2
    # The counterparty's event hides the sender's balance and key, as GET does.
    seen_by_bob = only_event(bob, "transaction.completed").data
    assert seen_by_bob["idempotencyKey"] is None
    assert [e["balanceAfter"] for e in seen_by_bob["entries"]] == [None, "40.00"]
    seen_by_alice = only_event(alice, "transaction.completed").data
    assert seen_by_alice["idempotencyKey"] == "alice-key"
    assert [e["balanceAfter"] for e in seen_by_alice["entries"]] == ["60.00", None]


def test_the_transfers_answer_is_the_initiators_event(client, alice, alice_account, bob_account):
    body = {
        "fromAccount": str(alice_account.id),
        "toAccount": str(bob_account.id),
        "amount": "5",
        "idempotencyKey": "k",
    }
    Event.objects.all().delete()
    response = bearer_client(alice).post("/api/transactions", body, format="json")

    assert response.status_code == 201
    assert only_event(alice, "transaction.completed").data == response.json()["transaction"]


def test_a_transfer_between_one_users_own_accounts_is_one_event(alice, alice_account):
    second = AccountFactory(owner=alice)
    Event.objects.all().delete()

    txn = transfer(alice_account, second, "1.00")

    event = only_event(alice, "transaction.completed")
    assert Event.objects.count() == 1
    assert event.data == api_get(alice, f"/api/transactions/{txn.id}", "transaction")
    assert [e["balanceAfter"] for e in event.data["entries"]] == ["99.00", "1.00"]


def test_a_funding_is_an_event_for_the_system_user_and_the_recipient(alice):
    system = SystemUserFactory()
    account = AccountFactory(owner=alice)

    txn = account_fund(account, "25.00", system=system)

    for user in (system, alice):
        assert only_event(user, "transaction.completed").data == api_get(
            user, f"/api/transactions/{txn.id}", "transaction"
        )
    assert only_event(alice, "transaction.completed").data["entries"][0]["balanceAfter"] is None


def test_a_decline_is_one_transaction_failed_for_its_initiator_only(alice, bob, alice_account, bob_account):
    Event.objects.all().delete()
    body = {
        "fromAccount": str(alice_account.id),
        "toAccount": str(bob_account.id),
        "amount": "500",
        "idempotencyKey": "k",
    }

    response = bearer_client(alice).post("/api/transactions", body, format="json")

    assert response.status_code == 422
    event = only_event(alice, "transaction.failed")
    assert event.data == response.json()["transaction"]
    assert event.data["status"] == "FAILED" and event.data["failureReason"] == "insufficient_funds"
    assert events_of(bob) == [] and Event.objects.count() == 1
    # A replay writes nothing new.
    assert bearer_client(alice).post("/api/transactions", body, format="json").status_code == 422
    assert Event.objects.count() == 1


def test_a_reversal_is_completed_for_everyone_and_the_original_reversed_for_its_owners(
    alice, bob, alice_account, bob_account
):
    original = transfer(alice_account, bob_account, "30.00")
    system = SystemUserFactory()
    Event.objects.all().delete()

    reversal = transaction_reverse(initiator=system, transaction_id=original.id, idempotency_key="r").transaction

    for user in (alice, bob):
        assert only_event(user, "transaction.completed").data == api_get(
            user, f"/api/transactions/{reversal.id}", "transaction"
        )
        reversed_event = only_event(user, "transaction.reversed")
        assert reversed_event.data == api_get(user, f"/api/transactions/{original.id}", "transaction")
        assert reversed_event.data["status"] == "REVERSED"
    # The system user who reversed it was shown the reversal in its answer; not the original.
    shown = only_event(system, "transaction.completed").data
    assert shown["id"] == str(reversal.id) and shown["idempotencyKey"] == "r"
    assert [e["balanceAfter"] for e in shown["entries"]] == [None, None]
    assert events_of(system, "transaction.reversed") == []


def test_a_declined_reversal_is_transaction_failed_for_the_system_user(alice, bob, alice_account, bob_account):
    original = transfer(alice_account, bob_account, "30.00")
    transfer(bob_account, AccountFactory(owner=bob), "30.00")  # bob can no longer cover it
    system = SystemUserFactory()

    failed = transaction_reverse(initiator=system, transaction_id=original.id, idempotency_key="r").transaction

    assert failed.status == "FAILED"
    assert only_event(system, "transaction.failed").data["id"] == str(failed.id)
    assert events_of(alice, "transaction.failed") == events_of(bob, "transaction.failed") == []


# --- holds ----------------------------------------------------------------------------------------


def test_a_hold_is_hold_created_for_both_owners(alice, bob, alice_account, bob_account):
    held = hold(alice_account, bob_account, "10.00")

    for user in (alice, bob):
        assert only_event(user, "hold.created").data == api_get(user, f"/api/holds/{held.id}", "hold")
    assert only_event(bob, "hold.created").data["idempotencyKey"] is None


def test_a_declined_hold_is_hold_created_failed_for_its_creator_only(alice, bob, alice_account, bob_account):
    held = hold(alice_account, bob_account, "1000.00")

    event = only_event(alice, "hold.created")
    assert event.data["status"] == "FAILED" and event.data == api_get(alice, f"/api/holds/{held.id}", "hold")
    assert events_of(bob, "hold.created") == []


def test_a_capture_is_hold_captured_and_transaction_completed(alice, bob, alice_account, bob_account):
    held = hold(alice_account, bob_account, "10.00")
    Event.objects.all().delete()

    result = hold_capture(initiator=bob, hold_id=held.id, idempotency_key="c", amount=Decimal("4.00"))

    for user in (alice, bob):
        assert only_event(user, "hold.captured").data == api_get(user, f"/api/holds/{held.id}", "hold")
        assert only_event(user, "transaction.completed").data == api_get(
            user, f"/api/transactions/{result.transaction.id}", "transaction"
        )
    assert only_event(alice, "hold.captured").data["capturedAmount"] == "4.00"


def test_a_void_by_a_system_user_is_hold_voided_for_the_owners_and_it(alice, bob, alice_account, bob_account):
    held = hold(alice_account, bob_account, "10.00")
    system = SystemUserFactory()

    hold_void(initiator=system, hold_id=held.id, idempotency_key="v")

    for user in (alice, bob):
        assert only_event(user, "hold.voided").data == api_get(user, f"/api/holds/{held.id}", "hold")
    assert only_event(system, "hold.voided").data["status"] == "VOIDED"
    assert ledger_verify().ok, ledger_verify().summary()  # the voider's event is one it may have


def test_beats_sweep_is_hold_expired_for_both_owners(alice, bob, alice_account, bob_account):
    held = hold(alice_account, bob_account, "10.00", expires_in=60)

    assert holds_expire(now=timezone.now() + timezone.timedelta(seconds=61)) == 1

    for user in (alice, bob):
        event = only_event(user, "hold.expired")
        assert event.data == api_get(user, f"/api/holds/{held.id}", "hold") and event.data["status"] == "EXPIRED"


# --- accounts -------------------------------------------------------------------------------------


def test_an_account_opened_through_the_api_is_account_created(alice):
    response = bearer_client(alice).post("/api/accounts", {"currency": "USD"}, format="json")

    assert response.status_code == 201
    assert only_event(alice, "account.created").data == response.json()["account"]


def test_freeze_unfreeze_and_close_are_events_for_the_owner(alice, bob):
    account = account_open(owner=alice)
    url = f"/api/accounts/{account.id}"

    account_freeze(account_id=account.id)
    assert only_event(alice, "account.frozen").data == api_get(alice, url, "account")
    account_unfreeze(account_id=account.id)
    assert only_event(alice, "account.unfrozen").data == api_get(alice, url, "account")
    account_close(account_id=account.id)
    assert only_event(alice, "account.closed").data == api_get(alice, url, "account")
    assert [e.data["status"] for e in events_of(alice)] == ["ACTIVE", "FROZEN", "ACTIVE", "CLOSED"]
    assert events_of(bob) == []


def test_the_admins_freeze_action_goes_through_the_service(alice):
    account = account_open(owner=alice)
    operator = UserFactory(is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(operator)

    admin.post(
        "/admin/accounts/account/",
        {"action": "account_freeze_action", "_selected_action": [str(account.id)], "confirm": "yes", "reason": "fraud"},
    )

    assert only_event(alice, "account.frozen").data["status"] == "FROZEN"


def test_a_new_funding_account_is_account_created_for_its_system_user():
    system = SystemUserFactory()

    account = funding_account_ensure(owner=system, currency="GBP")
    funding_account_ensure(owner=system, currency="GBP")  # already there: nothing new

    assert only_event(system, "account.created").data == api_get(system, f"/api/accounts/{account.id}", "account")


# --- rolled back writes leave no event ------------------------------------------------------------


class Boom(Exception):
    pass


def fail_after(monkeypatch, module, name):
    """Make `module.name` do its work (writing the events) and then raise, inside the write's atomic block."""
    original = getattr(module, name)

    def broken(*args, **kwargs):
        original(*args, **kwargs)
        raise Boom()

    monkeypatch.setattr(module, name, broken)


def test_a_transfer_that_fails_after_writing_its_events_leaves_none(monkeypatch, alice_account, bob_account):
    Event.objects.all().delete()
    fail_after(monkeypatch, ledger_services, "_post_completed")

    with pytest.raises(Boom):
        transfer(alice_account, bob_account, "1.00")

    assert Event.objects.count() == 0
    assert not Transaction.objects.filter(from_account=alice_account, kind="TRANSFER").exists()


def test_a_decline_that_fails_after_writing_its_event_leaves_none(monkeypatch, alice_account, bob_account):
    Event.objects.all().delete()
    fail_after(monkeypatch, ledger_services, "events_record")

    with pytest.raises(Boom):
        transfer(alice_account, bob_account, "1000.00")

    assert Event.objects.count() == 0


@pytest.mark.parametrize("step", ["create", "capture", "void"])
def test_a_hold_write_that_fails_after_writing_its_events_leaves_none(
    monkeypatch, step, alice, alice_account, bob_account
):
    held = hold(alice_account, bob_account, "10.00") if step != "create" else None
    Event.objects.all().delete()
    fail_after(monkeypatch, hold_services, "_hold_events")

    with pytest.raises(Boom):
        if step == "create":
            hold(alice_account, bob_account, "10.00")
        elif step == "capture":
            hold_capture(initiator=alice, hold_id=held.id, idempotency_key="c")
        else:
            hold_void(initiator=alice, hold_id=held.id, idempotency_key="v")

    assert Event.objects.count() == 0


def test_an_account_write_that_fails_after_writing_its_event_leaves_none(monkeypatch, alice):
    import accounts.services

    fail_after(monkeypatch, accounts.services, "events_record")

    with pytest.raises(Boom):
        account_open(owner=alice)

    assert Event.objects.count() == 0 and not alice.accounts.exists()


# --- nothing of another user's leaks --------------------------------------------------------------


def test_no_event_of_a_counterparty_shows_anything_the_api_hides_from_it(alice, bob, alice_account, bob_account):
    """Every event bob got, for every kind of change alice made towards him, holds none of alice's
    secrets: her balance after any write, her idempotency keys, her other accounts."""
    alice_other = funded_account("7.77", owner=alice)
    secret_key = f"alice-secret-{uuid.uuid4()}"
    transfer(alice_account, bob_account, "12.34", key=secret_key)
    held = hold(alice_account, bob_account, "1.00", key=secret_key + "-hold")
    hold_capture(initiator=alice, hold_id=held.id, idempotency_key=secret_key + "-capture")
    hold(alice_account, bob_account, "1000.00", key=secret_key + "-declined")
    transfer(alice_account, bob_account, "1000.00", key=secret_key + "-declined-transfer")
    alice_account.refresh_from_db()

    bob_sees = [event.data for event in events_of(bob)]

    assert {e["type"] for e in Event.objects.filter(user=bob).values("type")} == {
        "transaction.completed",
        "hold.created",
        "hold.captured",
    }
    text = str(bob_sees)
    assert secret_key not in text
    for alice_balance in ("87.66", "86.66", str(alice_account.balance)):
        assert alice_balance not in text
    assert str(alice_other.id) not in text


def test_threads_rendering_at_once_each_show_their_own_viewer(alice, bob, alice_account, bob_account):
    """Each thread renders with its own bound serializer, reused from request to request
    (events.services._bound_serializer), whose viewer is switched per rendering: threads doing it
    at the same moment must never show one user another's view. Seen to fail with one serializer
    shared by every thread (docs/testing.md)."""
    sent = transfer(alice_account, bob_account, "40.00", key="alice-key")
    txn = transaction_get(user=alice, transaction_id=sent.id)  # with all rendering reads: no query in the threads
    users = [alice.id, bob.id]
    expected = {row.user_id: row.data for row in transaction_event_rows(txn, type="x", user_ids=users)}
    assert expected[alice.id] != expected[bob.id]
    wrong, switch = [], sys.getswitchinterval()

    def render():
        for _ in range(300):
            for row in transaction_event_rows(txn, type="x", user_ids=users):
                if row.data != expected[row.user_id]:
                    wrong.append(row)

    sys.setswitchinterval(1e-6)  # hand the GIL over as often as possible, mid-rendering
    try:
        threads = [threading.Thread(target=render) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)
    assert wrong == []
