"""Broken object level authorization (OWASP API1): user B holding user A's ids learns nothing.

For every route that takes an account or transaction id, B's answer for A's id is byte for byte
the answer for an id that does not exist (so it cannot even tell A's ids are real), lists hold
none of A's objects, and no body B receives names A.
"""

import uuid
from decimal import Decimal

import pytest

from notifications.models import OutboxEmail
from tests.conftest import bearer_client
from tests.factories import AccountFactory, UserFactory, account_fund, funded_account
from tests.transactions.state import outbox_mark, outbox_since
from transactions.models import Transaction
from transactions.services import transfer_create

TRANSFER = {"fromAccount": "{account}", "toAccount": "{mine}", "amount": "1", "idempotencyKey": "k"}
FUNDING = {"toAccount": "{account}", "amount": "1", "idempotencyKey": "k"}
# {account} and {transaction} are A's (or ids that exist nowhere), {mine} is B's own account.
ID_ROUTES = [
    pytest.param("get", "/api/accounts/{account}", None, 404, id="account"),
    pytest.param("get", "/api/accounts/balance/{account}", None, 404, id="balance"),
    pytest.param("get", "/api/accounts/{account}/entries", None, 404, id="statement"),
    pytest.param("get", "/api/transactions/{transaction}", None, 404, id="transaction"),
    pytest.param("get", "/api/transactions?account={account}", None, 200, id="transactions-filtered"),
    pytest.param("post", "/api/transactions", TRANSFER, 400, id="transfer-from"),
    # System-only: a customer is refused before the id is even looked at.
    pytest.param("post", "/api/transactions/{transaction}/reverse", {"idempotencyKey": "k"}, 403, id="reverse"),
    pytest.param("post", "/api/transactions/system/initial-funds", FUNDING, 403, id="funding"),
]


@pytest.fixture
def victim(db):
    """A, with money, a transfer between two of A's accounts and a funding."""
    user = UserFactory(name="Alice Victim", email="alice.victim@example.com")
    account = funded_account("100.00", owner=user)
    savings = AccountFactory(owner=user)
    transfer = transfer_create(
        initiator=user, from_account_id=account.id, to_account_id=savings.id, amount=Decimal("10"), idempotency_key="a"
    ).transaction
    return {"user": user, "account": account, "transaction": transfer}


@pytest.fixture
def attacker(db):
    user = UserFactory()
    return {"user": user, "client": bearer_client(user), "mine": funded_account("50.00", owner=user)}


def _call(client, method, path, body, ids):
    path = path.format(**ids)
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, {k: v.format(**ids) for k, v in body.items()}, format="json")


@pytest.mark.parametrize("method, path, body, status", ID_ROUTES)
def test_another_users_id_gets_the_answer_of_an_unknown_id(victim, attacker, method, path, body, status):
    before = Transaction.objects.count()
    known = {"account": victim["account"].id, "transaction": victim["transaction"].id, "mine": attacker["mine"].id}
    unknown = {**known, "account": uuid.uuid4(), "transaction": uuid.uuid4()}

    theirs = _call(attacker["client"], method, path, body, known)
    nobodys = _call(attacker["client"], method, path, body, unknown)

    assert theirs.status_code == nobodys.status_code == status, theirs.content
    assert theirs.content == nobodys.content
    assert Transaction.objects.count() == before


def test_lists_hold_only_the_callers_objects(victim, attacker):
    client = attacker["client"]

    accounts = client.get("/api/accounts").json()["accounts"]
    transactions = client.get("/api/transactions").json()["transactions"]
    entries = client.get(f"/api/accounts/{attacker['mine'].id}/entries").json()["entries"]

    mine = str(attacker["mine"].id)
    assert [a["id"] for a in accounts] == [mine]
    assert transactions and all(mine in (t["fromAccount"], t["toAccount"]) for t in transactions)
    assert entries and str(victim["transaction"].id) not in str(transactions + entries)


def test_nothing_b_receives_names_a(victim, attacker):
    """B may pay A (that is what account ids are for) and sees the transfer, but never who A is."""
    client, mine = attacker["client"], attacker["mine"]
    account_fund(mine, "5.00")
    paid = client.post(
        "/api/transactions",
        {"fromAccount": str(mine.id), "toAccount": str(victim["account"].id), "amount": "2", "idempotencyKey": "pay"},
        format="json",
    )
    assert paid.status_code == 201, paid.content
    answers = [
        paid,
        client.get("/api/transactions"),
        client.get(f"/api/transactions/{paid.json()['transaction']['id']}"),
        client.get(f"/api/accounts/{mine.id}/entries"),
        client.get("/api/auth/me"),
    ]
    emails_to_b = OutboxEmail.objects.filter(to=attacker["user"].email)

    for text in [a.content.decode() for a in answers] + [e.subject + e.body for e in emails_to_b]:
        assert victim["user"].email not in text
        assert victim["user"].name not in text


def test_a_declined_transfer_is_shown_to_its_sender_only(victim, attacker):
    """Anyone may aim a transfer at any account id, money or not; the decline it records must not
    become spam in the target owner's history, lookups or mailbox (issue 9, item 18)."""
    client, target = attacker["client"], str(victim["account"].id)
    mark = outbox_mark()

    spam = client.post(
        "/api/transactions",
        {"fromAccount": str(attacker["mine"].id), "toAccount": target, "amount": "1000", "idempotencyKey": "spam"},
        format="json",
    )

    assert spam.status_code == 422, spam.content
    spam_id = spam.json()["transaction"]["id"]
    owner = bearer_client(victim["user"])
    for query in ["", "?status=FAILED", f"?account={target}"]:
        assert spam_id not in str(owner.get(f"/api/transactions{query}").json())
    assert owner.get(f"/api/transactions/{spam_id}").content == owner.get(f"/api/transactions/{uuid.uuid4()}").content
    assert outbox_since(mark) == []
    # Its sender still finds it, in the list and by id.
    assert spam_id in str(client.get("/api/transactions?status=FAILED").json())
    assert client.get(f"/api/transactions/{spam_id}").status_code == 200
