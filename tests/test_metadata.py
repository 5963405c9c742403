"""Metadata on accounts, transfers, fundings and holds (API.md, "Metadata and statements"): one
validator everywhere, `?metadata[key]=` filters on the lists, and nothing of it for anyone but
whoever wrote it."""

from decimal import Decimal

import pytest
from django.db import connection

from accounts.models import Account
from ledger_project.metadata import metadata_filter_q
from tests.factories import AccountFactory, funded_account
from transactions.models import Hold, IdempotencyKey, Transaction
from transactions.services import transfer_create

LABELS = {"order": "A-1001", "customer.id": "c_42", "note": "ünïcode ✓"}

BAD_METADATA = [
    ([], "metadata"),
    ("order=1", "metadata"),
    ({f"k{i}": "v" for i in range(21)}, "metadata"),
    ({"": "v"}, "metadata"),
    ({"x" * 41: "v"}, "metadata"),
    ({"has space": "v"}, "metadata"),
    ({"ключ": "v"}, "metadata"),
    ({"order": 1}, "metadata.order"),
    ({"order": 1.5}, "metadata.order"),
    ({"order": None}, "metadata.order"),
    ({"order": True}, "metadata.order"),
    ({"order": {"nested": "no"}}, "metadata.order"),
    ({"order": "x" * 501}, "metadata.order"),
    ({"order": "a\x00b"}, "metadata.order"),  # JSONB cannot store NUL: a 500 before it was refused
    ({"order": "line\nbreak"}, "metadata.order"),
    ({"order": "\x1b[31mred"}, "metadata.order"),
]


def transfer_body(source, target, key="t-1", **extra):
    return {
        "fromAccount": str(source.id),
        "toAccount": str(target.id),
        "amount": "10.00",
        "idempotencyKey": key,
        **extra,
    }


@pytest.fixture
def source(user):
    return funded_account("100.00", owner=user)


@pytest.fixture
def target(other_user):
    return AccountFactory(owner=other_user)


# --- validation: one validator, every route ------------------------------------------------------


@pytest.mark.parametrize("metadata, field", BAD_METADATA)
def test_bad_metadata_is_400_and_stores_nothing(auth_client, source, target, metadata, field):
    counts = (
        Account.objects.count(),
        Transaction.objects.count(),
        Hold.objects.count(),
        IdempotencyKey.objects.count(),
    )
    requests = [
        ("/api/accounts", {"metadata": metadata}),
        ("/api/transactions", transfer_body(source, target, metadata=metadata)),
        ("/api/holds", transfer_body(source, target, metadata=metadata)),
    ]
    for url, body in requests:
        response = auth_client.post(url, body, format="json")
        assert response.status_code == 400, (url, response.content)
        assert response.json()["code"] == "validation_error"
        assert list(response.json()["errors"]) == [field], response.json()

    response = auth_client.patch(f"/api/accounts/{source.id}", {"metadata": metadata}, format="json")
    assert response.status_code == 400 and list(response.json()["errors"]) == [field]
    assert counts == (
        Account.objects.count(),
        Transaction.objects.count(),
        Hold.objects.count(),
        IdempotencyKey.objects.count(),
    )
    assert Account.objects.get(id=source.id).metadata == {}


def test_a_lone_surrogate_is_400(auth_client, source, target):
    """`\\ud800` is valid JSON but not text: PostgreSQL refused it (a 500) before the validator did."""
    transfer = f'"fromAccount": "{source.id}", "toAccount": "{target.id}", "amount": "1.00", "idempotencyKey": "s"'
    for method, url, body in [
        ("post", "/api/accounts", '{"metadata": {"order": "\\ud800"}}'),
        ("post", "/api/transactions", "{" + transfer + ', "metadata": {"order": "\\ud800"}}'),
        ("post", "/api/holds", "{" + transfer + ', "metadata": {"order": "\\ud800"}}'),
        ("patch", f"/api/accounts/{source.id}", '{"metadata": {"order": "\\ud800"}}'),
    ]:
        response = getattr(auth_client, method)(url, body.encode(), content_type="application/json")
        assert response.status_code == 400, (url, response.content)
        assert list(response.json()["errors"]) == ["metadata.order"]


def test_the_limits_are_inclusive(auth_client):
    metadata = {f"{i:02d}" + "k" * 38: "v" * 500 for i in range(20)}

    response = auth_client.post("/api/accounts", {"metadata": metadata}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["account"]["metadata"] == metadata


# --- set at creation, shown to whoever wrote it ---------------------------------------------------


def test_account_metadata_at_creation_and_replaced_by_patch(auth_client, user):
    created = auth_client.post("/api/accounts", {"metadata": LABELS}, format="json").json()["account"]
    assert created["metadata"] == LABELS

    response = auth_client.patch(f"/api/accounts/{created['id']}", {"metadata": {"note": "new"}}, format="json")

    assert response.status_code == 200, response.content
    # The whole object is replaced, not merged.
    assert response.json()["account"]["metadata"] == {"note": "new"}
    assert auth_client.get(f"/api/accounts/{created['id']}").json()["account"]["metadata"] == {"note": "new"}
    assert (
        auth_client.patch(f"/api/accounts/{created['id']}", {"metadata": {}}, format="json").json()["account"][
            "metadata"
        ]
        == {}
    )


def test_patch_changes_no_money_and_nothing_else(auth_client, source):
    before = Account.objects.get(id=source.id)

    for body in ({"metadata": {"a": "b"}, "balance": "1000000.00"}, {"status": "CLOSED"}, {}):
        response = auth_client.patch(f"/api/accounts/{source.id}", body, format="json")
        assert response.status_code == 400, response.content

    after = Account.objects.get(id=source.id)
    assert (after.balance, after.held, after.status, after.metadata) == (before.balance, before.held, before.status, {})


def test_patch_of_another_users_account_is_404(other_client, source):
    response = other_client.patch(f"/api/accounts/{source.id}", {"metadata": {"mine": "now"}}, format="json")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert Account.objects.get(id=source.id).metadata == {}


def test_transfer_metadata_is_its_initiators_alone(auth_client, other_client, source, target):
    response = auth_client.post("/api/transactions", transfer_body(source, target, metadata=LABELS), format="json")
    assert response.status_code == 201, response.content
    txn_id = response.json()["transaction"]["id"]
    assert response.json()["transaction"]["metadata"] == LABELS
    assert Transaction.objects.get(id=txn_id).metadata == LABELS

    assert auth_client.get(f"/api/transactions/{txn_id}").json()["transaction"]["metadata"] == LABELS
    # The payee sees the transaction, not its payer's labels.
    assert other_client.get(f"/api/transactions/{txn_id}").json()["transaction"]["metadata"] is None
    assert [t["metadata"] for t in other_client.get("/api/transactions").json()["transactions"]] == [None]


def test_hold_metadata_is_its_creators_alone(auth_client, other_client, source, target):
    response = auth_client.post("/api/holds", transfer_body(source, target, metadata=LABELS), format="json")
    assert response.status_code == 201, response.content
    hold_id = response.json()["hold"]["id"]
    assert response.json()["hold"]["metadata"] == LABELS

    assert other_client.get(f"/api/holds/{hold_id}").json()["hold"]["metadata"] is None
    # A capture is a transaction of its own, without the hold's labels (the capturer may be the payee).
    capture = other_client.post(f"/api/holds/{hold_id}/capture", {"idempotencyKey": "cap-1"}, format="json")
    assert capture.status_code == 201, capture.content
    assert capture.json()["transaction"]["metadata"] == {}


def test_funding_takes_metadata(system_client, target):
    body = {"toAccount": str(target.id), "amount": "5.00", "idempotencyKey": "f-1", "metadata": {"batch": "2026-01"}}

    response = system_client.post("/api/transactions/system/initial-funds", body, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["transaction"]["metadata"] == {"batch": "2026-01"}


def test_a_decline_keeps_its_metadata(auth_client, source, target):
    body = {**transfer_body(source, target, metadata={"try": "1"}), "amount": "1000.00"}

    response = auth_client.post("/api/transactions", body, format="json")

    assert response.status_code == 422
    assert response.json()["transaction"]["metadata"] == {"try": "1"}


# --- idempotency: metadata is part of what a key was used for --------------------------------------


def test_the_same_key_with_other_metadata_is_reused(auth_client, source, target):
    first = auth_client.post(
        "/api/transactions", transfer_body(source, target, metadata={"a": "1", "b": "2"}), format="json"
    )
    same = auth_client.post(
        "/api/transactions", transfer_body(source, target, metadata={"b": "2", "a": "1"}), format="json"
    )
    other = auth_client.post("/api/transactions", transfer_body(source, target, metadata={"a": "1"}), format="json")
    none = auth_client.post("/api/transactions", transfer_body(source, target), format="json")

    assert first.status_code == 201
    assert (same.status_code, same["Idempotent-Replayed"]) == (200, "true")  # key order is not a difference
    assert same.json()["transaction"]["id"] == first.json()["transaction"]["id"]
    for response in (other, none):
        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_reused"
    assert Transaction.objects.count() == 2  # the funding and the one transfer


def test_a_hold_key_with_other_metadata_is_reused(auth_client, source, target):
    assert (
        auth_client.post("/api/holds", transfer_body(source, target, metadata={"a": "1"}), format="json").status_code
        == 201
    )
    response = auth_client.post("/api/holds", transfer_body(source, target, metadata={"a": "2"}), format="json")

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"


def test_metadata_costs_the_transfer_no_statement(user, source, target, django_assert_num_queries):
    # As tests/transactions/test_services.py pins it without metadata: it rides in POST_SQL.
    assert source.owner == user
    with django_assert_num_queries(6):
        transfer_create(
            initiator=user,
            from_account_id=source.id,
            to_account_id=target.id,
            amount=Decimal("1.00"),
            idempotency_key="k",
            metadata=LABELS,
        )


# --- filters ------------------------------------------------------------------------------------


def send(client, source, target, key, metadata):
    response = client.post(
        "/api/transactions", transfer_body(source, target, key=key, metadata=metadata), format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()["transaction"]["id"]


def test_transaction_filters_are_exact_and_anded(auth_client, source, target):
    a = send(auth_client, source, target, "a", {"order": "1", "shop": "x"})
    b = send(auth_client, source, target, "b", {"order": "2", "shop": "x"})
    send(auth_client, source, target, "c", {})

    def ids(query):
        response = auth_client.get(f"/api/transactions?{query}")
        assert response.status_code == 200, response.content
        return {t["id"] for t in response.json()["transactions"]}

    assert ids("metadata[shop]=x") == {a, b}
    assert ids("metadata[shop]=x&metadata[order]=2") == {b}
    assert ids("metadata[order]=1&metadata[shop]=y") == set()
    assert ids("metadata[shop]=X") == set()  # exact, case included
    assert ids("metadata[order]=1&status=COMPLETED&metadata[shop]=x&metadata[note]=") == set()


def test_filters_never_reach_the_other_sides_labels(auth_client, other_client, source, target):
    """The payee may not probe the payer's labels through the filter either."""
    send(auth_client, source, target, "a", {"order": "1"})
    auth_client.post("/api/holds", transfer_body(source, target, key="h", metadata={"order": "1"}), format="json")

    assert other_client.get("/api/transactions?metadata[order]=1").json()["transactions"] == []
    assert other_client.get("/api/holds?metadata[order]=1").json()["holds"] == []
    assert len(auth_client.get("/api/holds?metadata[order]=1").json()["holds"]) == 1


def test_account_filters(auth_client, other_client, user):
    auth_client.post("/api/accounts", {"metadata": {"purpose": "rent"}}, format="json")
    auth_client.post("/api/accounts", {"metadata": {"purpose": "savings"}}, format="json")
    other_client.post("/api/accounts", {"metadata": {"purpose": "rent"}}, format="json")

    accounts = auth_client.get("/api/accounts?metadata[purpose]=rent").json()["accounts"]

    assert [a["metadata"] for a in accounts] == [{"purpose": "rent"}]
    assert Account.objects.get(id=accounts[0]["id"]).owner == user


@pytest.mark.parametrize(
    "query, field",
    [
        ("metadata[a]=1&metadata[b]=1&metadata[c]=1&metadata[d]=1", "metadata"),
        ("metadata[has%20space]=1", "metadata[has space]"),
        ("metadata[]=1", "metadata[]"),
        ("metadata[a]=1&metadata[a]=2", "metadata[a]"),
        ("metadata[a]=" + "x" * 501, "metadata[a]"),
    ],
)
@pytest.mark.parametrize("route", ["/api/accounts", "/api/transactions", "/api/holds"])
def test_bad_filters_are_400(auth_client, route, query, field):
    response = auth_client.get(f"{route}?{query}")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["errors"]) == [field]


@pytest.mark.parametrize("model, index", [(Account, "account"), (Transaction, "transaction"), (Hold, "hold")])
def test_the_filter_can_use_the_partial_gin_index(db, model, index):
    """The filter repeats the partial index's condition (metadata <> '{}'), so the planner may
    use it; without that, a partial index would never match."""
    sql, params = model.objects.filter(metadata_filter_q({"order": "1"})).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"{index}_metadata_idx" in plan, plan
