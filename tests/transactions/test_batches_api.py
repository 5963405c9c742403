"""POST /api/transactions/batch and GET /api/transactions/batch/{id} (API.md "Batches")."""

import json
from collections import Counter
from datetime import timedelta
from uuid import UUID

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account
from notifications.services import outbox_email_send
from tests.conftest import bearer_client
from tests.factories import AccountFactory, funded_account, hold, transfer
from transactions.models import Batch, IdempotencyKey, LedgerEntry, Transaction
from transactions.selectors import transaction_outcome_totals

from .responses import transaction_json
from .state import assert_ledger_ok, balances, outbox_mark, outbox_since

BATCH = "/api/transactions/batch"


def item(source, target, amount, reference=None):
    body = {"fromAccount": str(source.id), "toAccount": str(target.id), "amount": amount}
    if reference is not None:
        body["reference"] = reference
    return body


def post(client, items, key="batch-1", **extra):
    return client.post(BATCH, {"idempotencyKey": key, "transfers": items, **extra}, format="json")


@pytest.fixture
def accounts(user, other_user):
    """Two of the caller's accounts (100.00 and 50.00) and another user's empty one."""
    return funded_account("100.00", owner=user), funded_account("50.00", owner=user), AccountFactory(owner=other_user)


def test_an_atomic_batch_applies_every_item_in_order(auth_client, user, accounts):
    a, b, c = accounts
    mark = outbox_mark()

    # The second item spends what the first brought: each item sees the ones before it.
    response = post(auth_client, [item(b, a, "50.00", "r1"), item(a, c, "150.00", "r2"), item(c, b, "1")])

    # c is another user's: item 3 is the caller's only if it owns c (it does not) -> 400 first.
    assert response.status_code == 400
    assert response.json()["errors"] == {"transfers[2].fromAccount": ["Invalid account."]}

    response = post(auth_client, [item(b, a, "50.00", "r1"), item(a, c, "150.00", "r2")])

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["message"] == "Batch completed successfully"
    batch = body["batch"]
    assert (batch["atomic"], batch["status"], batch["count"]) == (True, "COMPLETED", 2)
    first, second = batch["transactions"]
    assert (first["amount"], first["status"], first["batch"]) == ("50.00", "COMPLETED", batch["id"])
    assert first["entries"][1]["balanceAfter"] == "150.00"  # a after item 1
    assert second["entries"][0]["balanceAfter"] == "0.00"  # a after item 2
    assert second["idempotencyKey"] is None  # the batch has the key
    assert body["balances"] == {
        str(a.id): {"balance": "0.00", "held": "0.00", "available": "0.00"},
        str(b.id): {"balance": "0.00", "held": "0.00", "available": "0.00"},
    }
    assert balances(a, b, c) == [0, 0, 150_00]
    assert Transaction.objects.filter(batch_id=batch["id"]).count() == 2
    # Each as the transaction routes show it, built from the database.
    assert batch["transactions"] == [transaction_json(Transaction(id=t["id"]), viewer=user) for t in (first, second)]
    # One summary per owner, not one per item.
    emails = outbox_since(mark)
    assert sorted(email.to for email in emails) == sorted([user.email, c.owner.email])
    mine = next(email for email in emails if email.to == user.email)
    assert mine.subject == "Ledger: 2 transfers of a batch on your accounts"
    assert (mine.batch_id, mine.owner_id, mine.body) == (UUID(batch["id"]), user.id, "")  # written when sent
    assert_ledger_ok()


@pytest.mark.parametrize("declined_at", [0, 1, 2])
def test_an_atomic_decline_anywhere_writes_nothing_but_the_answer(auth_client, accounts, declined_at):
    a, b, c = accounts
    items = [item(a, c, "10.00", f"r{i}") for i in range(3)]
    items[declined_at] = item(b, c, "60.00", "short")  # b holds 50.00
    mark = outbox_mark()
    transactions_before = Transaction.objects.count()

    response = post(auth_client, items)

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "batch_declined"
    details = body["details"]
    assert (details["index"], details["reference"], details["code"]) == (declined_at, "short", "insufficient_funds")
    assert details["details"]["shortfall"] == "10.00"
    assert balances(a, b, c) == [100_00, 50_00, 0]
    assert Transaction.objects.count() == transactions_before
    assert outbox_since(mark) == []
    assert Batch.objects.get().status == Batch.Status.FAILED

    # The key replays that answer, even once the batch would now pass.
    transfer(funded_account("100.00"), b, "100.00")
    replay = post(auth_client, items)
    assert replay.status_code == 422
    assert replay.json() == body
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert Transaction.objects.filter(batch__isnull=False).count() == 0
    assert_ledger_ok()


def test_a_non_atomic_batch_answers_each_item(auth_client, user, accounts):
    a, b, c = accounts
    mark = outbox_mark()
    items = [item(a, c, "60.00", "ok-1"), item(a, c, "60.00", "short"), item(a, b, "40.00", "ok-2")]

    response = post(auth_client, items, atomic=False)

    assert response.status_code == 200, response.json()
    batch = response.json()["batch"]
    assert (batch["atomic"], batch["status"], batch["count"]) == (False, "PARTIAL", 3)
    ok1, short, ok2 = batch["results"]
    assert (ok1["index"], ok1["reference"], ok1["status"], ok1["transaction"]["status"]) == (
        0,
        "ok-1",
        201,
        "COMPLETED",
    )
    assert (short["status"], short["error"]["code"]) == (422, "insufficient_funds")
    assert short["error"]["details"]["available"] == "40.00"  # after item 0
    assert short["error"]["transaction"]["status"] == "FAILED"
    assert ok2["transaction"]["entries"][1]["balanceAfter"] == "90.00"
    assert balances(a, b, c) == [0, 90_00, 60_00]
    failed = Transaction.objects.get(id=short["error"]["transaction"]["id"])
    assert (failed.status, failed.failure_reason, failed.entries.count()) == ("FAILED", "insufficient_funds", 0)
    assert len(outbox_since(mark)) == 2
    # The answer's transactions are what the transaction serializer shows (the GET renders them so).
    assert auth_client.get(f"{BATCH}/{batch['id']}").json()["batch"] == batch
    assert_ledger_ok()

    # Every item declined: a FAILED batch of FAILED transactions, no email.
    mark = outbox_mark()
    response = post(auth_client, [item(a, c, "1.00")], key="batch-2", atomic=False)
    assert response.json()["batch"]["status"] == "FAILED"
    assert outbox_since(mark) == []


def test_a_batch_summary_is_written_from_the_entries_when_it_is_sent(
    auth_client, user, other_user, accounts, mailoutbox
):
    a, b, c = accounts
    mark = outbox_mark()
    items = [item(b, a, "50.00"), item(a, c, "60.00"), item(a, c, "500.00", "short")]

    batch = post(auth_client, items, atomic=False).json()["batch"]

    moved_within, paid = (result["transaction"]["id"] for result in batch["results"][:2])
    rows = outbox_since(mark)
    assert [row.body for row in rows] == ["", ""]
    assert all(outbox_email_send(outbox_id=row.id) for row in rows)
    sent = {message.to[0]: message.body for message in mailoutbox}
    assert sent[user.email] == (
        f"Hello {user.name},\n\n"
        f"A batch of transfers ({batch['id']}) moved money on your accounts:\n"
        f"- 50.00 INR moved from your account {b.id} to your account {a.id} (transaction {moved_within})\n"
        f"- 60.00 INR debited from your account {a.id} to account {c.id} (transaction {paid})\n\n"
        f"New balances:\n- {b.id}: 0.00 INR\n- {a.id}: 90.00 INR\n"
    )  # the declined item moved nothing: no line
    assert sent[other_user.email] == (
        f"Hello {other_user.name},\n\n"
        f"A batch of transfers ({batch['id']}) moved money on your accounts:\n"
        f"- 60.00 INR credited to your account {c.id} from account {a.id} (transaction {paid})\n\n"
        f"New balances:\n- {c.id}: 60.00 INR\n"
    )
    # The row keeps what was sent.
    assert {row.to: row.body for row in outbox_since(mark)} == sent


def test_a_replay_answers_the_first_answer(auth_client, accounts):
    a, b, c = accounts
    items = [item(a, c, "10.00"), item(b, c, "5.00")]

    first = post(auth_client, items)
    replay = post(auth_client, items)

    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert balances(a, b, c) == [90_00, 45_00, 15_00]
    # Another body, or the same key used for a single transfer, is refused.
    assert post(auth_client, items[:1]).json()["code"] == "idempotency_key_reused"
    assert post(auth_client, items, atomic=False).json()["code"] == "idempotency_key_reused"
    single = auth_client.post("/api/transactions", {**items[0], "idempotencyKey": "batch-1"}, format="json")
    assert single.json()["code"] == "idempotency_key_reused"
    assert post(auth_client, items, key="single-1").status_code == 201
    assert_ledger_ok()


def test_the_same_account_on_both_sides_of_different_items(auth_client, accounts):
    a, b, c = accounts
    items = [item(a, b, "100.00"), item(b, a, "150.00"), item(a, b, "150.00"), item(b, c, "150.00")]

    response = post(auth_client, items)

    assert response.status_code == 201, response.json()
    assert balances(a, b, c) == [0, 0, 150_00]
    for account in (a, b):
        newest = LedgerEntry.objects.filter(account=account).order_by("-id").first()
        assert newest.balance_after == Account.objects.get(id=account.id).balance
    assert_ledger_ok()


def test_limits_apply_per_item(auth_client, accounts):
    a, b, c = accounts
    Account.objects.filter(id=a.id).update(daily_debit_count=2)
    transfer(a, c, "1.00")  # the first of today

    response = post(auth_client, [item(a, c, "1.00"), item(a, c, "1.00"), item(a, b, "1.00")], atomic=False)

    statuses = [result["status"] for result in response.json()["batch"]["results"]]
    assert statuses == [201, 422, 422]
    assert response.json()["batch"]["results"][1]["error"]["details"]["used"] == 2
    assert_ledger_ok()


def test_holds_count_against_each_item(auth_client, accounts):
    a, b, c = accounts
    hold(a, c, "90.00")  # a: balance 100.00, available 10.00

    response = post(
        auth_client, [item(a, c, "6.00"), item(a, c, "6.00"), item(b, a, "2.00"), item(a, c, "6.00")], atomic=False
    )

    results = response.json()["batch"]["results"]
    assert [result["status"] for result in results] == [201, 422, 201, 201]
    assert results[1]["error"]["details"]["available"] == "4.00"
    assert response.json()["balances"][str(a.id)] == {"balance": "90.00", "held": "90.00", "available": "0.00"}
    assert_ledger_ok()


@pytest.mark.parametrize(
    ("items", "errors"),
    [
        ([], {"transfers": ["Send from 1 to 1000 transfers."]}),
        ("x", {"transfers": ['Expected a list of items but got type "str".']}),
        (
            [{"fromAccount": "A", "toAccount": "B", "amount": "1"}, {}],
            {
                "transfers[0].fromAccount": ["Must be a valid UUID."],
                "transfers[0].toAccount": ["Must be a valid UUID."],
                "transfers[1].fromAccount": ["This field is required."],
                "transfers[1].toAccount": ["This field is required."],
                "transfers[1].amount": ["This field is required."],
            },
        ),
    ],
)
def test_bad_input_is_400_naming_the_item(auth_client, accounts, items, errors):
    response = post(auth_client, items)

    assert response.status_code == 400
    assert response.json()["errors"] == errors
    assert not Batch.objects.exists() and not IdempotencyKey.objects.filter(key="batch-1").exists()


def test_each_item_is_checked_before_anything_runs(auth_client, user, accounts):
    a, b, c = accounts
    usd = funded_account("10.00", owner=user, currency="USD")
    cases = [
        (item(a, a, "1"), "same_account", "transfers[1].toAccount"),
        (item(a, usd, "1"), "currency_mismatch", "transfers[1].toAccount"),
        (item(c, a, "1"), "invalid_account", "transfers[1].fromAccount"),
        (item(a, c, "1.001"), "validation_error", "transfers[1].amount"),
    ]
    for bad, code, field in cases:
        response = post(auth_client, [item(a, c, "1"), bad])
        assert (response.status_code, response.json()["code"], list(response.json()["errors"])) == (400, code, [field])
    response = post(auth_client, [item(a, c, "1", "x"), item(a, c, "1", "x")])
    assert response.json()["errors"] == {"transfers[1].reference": ["Must be unique within the batch."]}
    response = post(auth_client, [item(a, c, "1")], atomic="yes")
    assert list(response.json()["errors"]) == ["atomic"]
    assert balances(a, b, c) == [100_00, 50_00, 0]
    assert not IdempotencyKey.objects.filter(key="batch-1").exists()


def test_the_maximum_batch_fits_the_body_limit_and_one_more_is_400(auth_client, user, settings):
    source = funded_account("10000.00", owner=user)
    target = AccountFactory()
    items = [item(source, target, "1.00", f"reference-{i:04}") for i in range(1000)]
    body = json.dumps({"idempotencyKey": "max", "transfers": items})
    assert len(body) <= settings.BATCH_MAX_REQUEST_BODY_BYTES

    with CaptureQueriesContext(connection) as queries:
        response = auth_client.post(BATCH, body, content_type="application/json")

    assert response.status_code == 201, response.json()
    assert balances(source, target) == [9000_00, 1000_00]
    # Set-based: the same handful of statements for 1,000 items as for one.
    assert len(queries) <= 12, [q["sql"][:80] for q in queries]
    too_many = post(auth_client, [*items, item(source, target, "1.00")], key="max-1")
    assert too_many.status_code == 400
    assert too_many.json()["errors"] == {"transfers": ["Send from 1 to 1000 transfers."]}
    assert_ledger_ok()


def test_a_body_past_the_batch_limit_is_413(auth_client, accounts, settings):
    a, b, c = accounts
    settings.BATCH_MAX_REQUEST_BODY_BYTES = 4096
    filler = "x" * 4096

    response = post(auth_client, [item(a, c, "1.00", "r")], filler=filler)

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    # Other routes keep their own limit: a batch-sized body is 413 there.
    settings.BATCH_MAX_REQUEST_BODY_BYTES = 204_800
    transfer_body = {**item(a, c, "1.00"), "idempotencyKey": "t", "filler": "x" * settings.MAX_REQUEST_BODY_BYTES}
    assert auth_client.post("/api/transactions", transfer_body, format="json").status_code == 413
    assert post(auth_client, [item(a, c, "1.00")], filler="x" * 100_000).status_code == 201
    assert balances(a, c) == [99_00, 1_00]


def test_get_shows_a_batch_to_its_initiator_only(auth_client, other_user, accounts):
    a, b, c = accounts
    created = post(auth_client, [item(a, c, "10.00")]).json()["batch"]
    declined = post(auth_client, [item(b, c, "500.00", "big")], key="batch-2").json()

    shown = auth_client.get(f"{BATCH}/{created['id']}")
    assert shown.status_code == 200
    assert shown.json()["batch"] == created
    for other in (bearer_client(other_user), bearer_client(c.owner)):
        assert other.get(f"{BATCH}/{created['id']}").status_code == 404
    assert auth_client.get(f"{BATCH}/not-a-uuid").status_code == 404
    failed = Batch.objects.get(status=Batch.Status.FAILED)
    shown = auth_client.get(f"{BATCH}/{failed.id}").json()["batch"]
    assert (shown["status"], shown["transactions"], shown["declined"]) == ("FAILED", [], declined["details"])
    # The item's own JSON carries its batch.
    txn_id = created["transactions"][0]["id"]
    assert auth_client.get(f"/api/transactions/{txn_id}").json()["transaction"]["batch"] == created["id"]


def test_metrics_count_each_item_of_a_batch(auth_client, accounts):
    a, b, c = accounts
    before = IdempotencyKey.objects.order_by("-id").first().id
    post(auth_client, [item(a, c, "10.00"), item(b, c, "60.00"), item(a, b, "1.00")], atomic=False)

    last, rows = transaction_outcome_totals(after_key_id=before, settled_before=timezone.now() + timedelta(seconds=1))

    counted = Counter()
    for row in rows:
        counted[(row["status"], row["failure_reason"])] += row["count"]
    assert counted == {("COMPLETED", ""): 2, ("FAILED", "insufficient_funds"): 1}
    assert last == IdempotencyKey.objects.get(key="batch-1").id


def test_a_batch_tells_each_user_what_it_may_see_in_events(auth_client, user, other_user, accounts):
    from events.models import Event

    a, b, c = accounts
    other_client = bearer_client(other_user)
    earlier = set(Event.objects.values_list("id", flat=True))  # the accounts' and fundings'

    response = post(auth_client, [item(a, c, "30.00"), item(b, a, "999.00"), item(b, c, "5.00")], atomic=False)

    assert response.status_code == 200, response.json()
    batch = response.json()["batch"]
    moved, declined, small = (
        result.get("transaction") or result["error"]["transaction"] for result in batch["results"]
    )
    shown = {(e.user_id, e.type, e.data["id"]): e.data for e in Event.objects.exclude(id__in=earlier)}
    # Each completed item to both owners, each event as that user's GET of it shows it; the decline
    # to its initiator alone; batch.completed (the answer's batch object) to the initiator.
    for txn in (moved, small):
        for viewer, client in ((user, auth_client), (other_user, other_client)):
            assert (
                shown.pop((viewer.id, "transaction.completed", txn["id"]))
                == client.get(f"/api/transactions/{txn['id']}").json()["transaction"]
            )
    assert shown.pop((user.id, "transaction.failed", declined["id"])) == declined
    assert shown.pop((user.id, "batch.completed", batch["id"])) == batch
    assert shown == {}
    assert_ledger_ok()


def test_an_atomic_decline_has_no_event(auth_client, accounts):
    from events.models import Event

    a, b, c = accounts
    before = Event.objects.count()

    response = post(auth_client, [item(a, c, "30.00"), item(b, a, "999.00")])

    assert response.status_code == 422
    assert Event.objects.count() == before
    assert_ledger_ok()


def test_batch_items_carry_their_initiators_metadata(auth_client, user, other_user, accounts):
    a, b, c = accounts
    labelled = {**item(a, c, "1.00"), "metadata": {"order": "A-17"}}

    bad = post(auth_client, [item(a, c, "1.00"), {**labelled, "metadata": {"bad key": "x"}}], key="meta-bad")
    response = post(auth_client, [labelled, item(b, c, "2.00")], key="meta")
    reused = post(auth_client, [{**labelled, "metadata": {"order": "A-18"}}, item(b, c, "2.00")], key="meta")

    assert bad.status_code == 400
    assert list(bad.json()["errors"]) == ["transfers[1].metadata"]
    assert response.status_code == 201, response.json()
    first, second = response.json()["batch"]["transactions"]
    assert (first["metadata"], second["metadata"]) == ({"order": "A-17"}, {})
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    # The initiator finds it by its label; the other side sees no label, and cannot filter on it.
    found = auth_client.get("/api/transactions?metadata[order]=A-17").json()["transactions"]
    assert [txn["id"] for txn in found] == [first["id"]]
    other = bearer_client(other_user)
    assert other.get(f"/api/transactions/{first['id']}").json()["transaction"]["metadata"] is None
    assert other.get("/api/transactions?metadata[order]=A-17").json()["transactions"] == []
    assert_ledger_ok()
