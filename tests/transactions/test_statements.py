"""`GET /api/accounts/balance/{id}?asOf=` and `GET /api/accounts/{id}/statement` (API.md,
"Metadata and statements"): balances from `balanceAfter` by one indexed lookup, totals over the
period, entries oldest first, CSV streamed."""

import csv
import io
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.money import format_minor
from accounts.selectors import account_balance_as_of
from tests.factories import AccountFactory, account_fund, transfer
from transactions.models import LedgerEntry
from transactions.selectors import account_statement

from .state import assert_ledger_ok

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    """timezone.now as the services read it, set by the test: entries land at chosen instants."""

    def __init__(self, monkeypatch):
        self.now = T0
        monkeypatch.setattr(timezone, "now", lambda: self.now)

    def at(self, instant):
        self.now = instant
        return self


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def statement_url(account, **params):
    return f"/api/accounts/{account.id}/statement?{urlencode(params)}"


def z(instant):
    return instant.isoformat().replace("+00:00", "Z")


@pytest.fixture
def history(clock, user, other_user):
    """The caller's account: funded 100.00 on Jan 1, pays 30.00 on Feb 1, receives 5.00 on Mar 1."""
    mine, theirs = AccountFactory(owner=user), AccountFactory(owner=other_user)
    clock.at(T0 + timedelta(hours=1))
    account_fund(mine, "100.00")
    account_fund(theirs, "50.00")
    clock.at(datetime(2026, 2, 1, tzinfo=UTC))
    transfer(mine, theirs, "30.00")
    clock.at(datetime(2026, 3, 1, tzinfo=UTC))
    transfer(theirs, mine, "5.00")
    clock.at(datetime(2026, 6, 1, tzinfo=UTC))
    return mine


# --- asOf -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "as_of, balance",
    [
        ("2025-12-31T23:59:59Z", "0.00"),  # before the first entry
        ("2026-01-01T01:00:00Z", "100.00"),  # at the entry's instant: included
        ("2026-01-15T00:00:00+05:30", "100.00"),
        ("2026-02-01T00:00:00Z", "70.00"),
        ("2026-02-28T23:59:59.999999Z", "70.00"),
        ("2026-03-01T00:00:00Z", "75.00"),
        ("2030-01-01T00:00:00Z", "75.00"),
    ],
)
def test_balance_as_of(history, auth_client, as_of, balance):
    response = auth_client.get(f"/api/accounts/balance/{history.id}?{urlencode({'asOf': as_of})}")

    assert response.status_code == 200, response.content
    # held and available are today's figures: left out for an instant.
    assert response.json() == {
        "accountId": str(history.id),
        "balance": balance,
        "currency": "INR",
        "asOf": z(datetime.fromisoformat(as_of).astimezone(UTC)),
    }


def test_balance_as_of_is_one_indexed_lookup(history):
    with CaptureQueriesContext(connection) as queries:
        account_balance_as_of(account=history, instant=datetime(2026, 2, 15, tzinfo=UTC))
    assert len(queries) == 1
    # Tiny tables may be read sequentially; with sequential scans off the plan must be an index scan.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + queries[0]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "ledger_entry_account_time_idx" in plan, plan
    assert "Sort" not in plan, plan


@pytest.mark.parametrize(
    "as_of",
    ["yesterday", "2026-01-01", "2026-01-01T00:00:00", "2026-01-01T00:00:00 00:00", "", "0001-01-01T00:00:00+01:00"],
)
def test_bad_as_of_is_400(history, auth_client, as_of):
    response = auth_client.get(f"/api/accounts/balance/{history.id}?{urlencode({'asOf': as_of})}")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"
    assert "asOf" in response.json()["errors"]


def test_as_of_of_another_users_account_is_404(history, other_client):
    response = other_client.get(f"/api/accounts/balance/{history.id}?asOf=2026-02-15T00:00:00Z")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- statement --------------------------------------------------------------------------------


def test_statement(history, auth_client):
    response = auth_client.get(statement_url(history, **{"from": "2026-01-15T00:00:00Z", "to": "2026-04-01T00:00:00Z"}))

    assert response.status_code == 200, response.content
    entries = list(LedgerEntry.objects.filter(account=history).order_by("id"))[1:]
    assert response.json() == {
        "accountId": str(history.id),
        "currency": "INR",
        "from": "2026-01-15T00:00:00Z",
        "to": "2026-04-01T00:00:00Z",
        "openingBalance": "100.00",
        "closingBalance": "75.00",
        "totalCredits": "5.00",
        "totalDebits": "30.00",
        "count": 2,
        "entries": [
            {
                "id": entry.id,
                "transaction": str(entry.transaction_id),
                "type": entry.type,
                "amount": format_minor(entry.amount, "INR"),
                "balanceAfter": format_minor(entry.balance_after, "INR"),
                "createdAt": z(entry.created_at),
            }
            for entry in entries
        ],
        "next": None,
    }


def test_statement_is_half_open(history, auth_client):
    # The Feb 1 entry is in [Feb 1, Mar 1), not in [Jan 1, Feb 1); the Mar 1 one is in neither.
    before = auth_client.get(statement_url(history, **{"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}))
    during = auth_client.get(statement_url(history, **{"from": "2026-02-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}))

    assert (before.json()["count"], before.json()["closingBalance"]) == (1, "100.00")
    assert (during.json()["count"], during.json()["openingBalance"], during.json()["closingBalance"]) == (
        1,
        "100.00",
        "70.00",
    )
    assert during.json()["totalDebits"] == "30.00"


def test_statement_pages_oldest_first(clock, user, auth_client):
    mine = AccountFactory(owner=user)
    for day in range(7):
        clock.at(T0 + timedelta(days=day))
        account_fund(mine, "1.00")
    params = {"from": "2026-01-02T00:00:00Z", "to": "2026-01-07T00:00:00Z", "limit": 2}

    seen, url = [], statement_url(mine, **params)
    while url:
        body = auth_client.get(url).json()
        assert (body["count"], body["openingBalance"], body["closingBalance"]) == (5, "1.00", "6.00")
        seen += [entry["balanceAfter"] for entry in body["entries"]]
        url = body["next"]

    assert seen == ["2.00", "3.00", "4.00", "5.00", "6.00"]


def test_statement_of_an_empty_period(history, auth_client):
    body = auth_client.get(
        statement_url(history, **{"from": "2025-01-01T00:00:00Z", "to": "2025-06-01T00:00:00Z"})
    ).json()

    assert body["openingBalance"] == body["closingBalance"] == "0.00"
    assert (body["count"], body["entries"], body["next"]) == (0, [], None)


@pytest.mark.parametrize(
    "params, field",
    [
        ({}, "from"),
        ({"from": "2026-01-01T00:00:00Z"}, "to"),
        ({"from": "2026-01-01", "to": "2026-02-01T00:00:00Z"}, "from"),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}, "to"),
        ({"from": "2025-01-01T00:00:00Z", "to": "2026-01-02T00:00:01Z"}, "to"),  # 366 days and a second
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "limit": 0}, "limit"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "cursor": "forged"}, "cursor"),
    ],
)
def test_bad_statement_query_is_400(history, auth_client, params, field):
    response = auth_client.get(statement_url(history, **params))

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["errors"]


def test_a_statement_of_366_days_is_allowed(history, auth_client):
    response = auth_client.get(statement_url(history, **{"from": "2025-06-01T00:00:00Z", "to": "2026-06-02T00:00:00Z"}))

    assert response.status_code == 200, response.content
    assert response.json()["count"] == 3


def test_statement_of_another_users_account_is_404(history, other_client, system_client):
    params = {"from": "2026-01-01T00:00:00Z", "to": "2026-06-01T00:00:00Z"}
    for client in (other_client, system_client):
        for extra in ({}, {"format": "csv"}):
            response = client.get(statement_url(history, **params, **extra))
            assert response.status_code == 404
            assert response.json()["code"] == "not_found"


def test_statement_csv(history, auth_client):
    params = {"from": "2026-01-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}
    by_accept = auth_client.get(statement_url(history, **params), HTTP_ACCEPT="text/csv")
    by_format = auth_client.get(statement_url(history, **params, format="csv"))

    for response in (by_accept, by_format):
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert rows[0] == ["id", "createdAt", "transaction", "type", "amount", "currency", "balanceAfter"]
        assert [(row[3], row[4], row[6]) for row in rows[1:]] == [
            ("CREDIT", "100.00", "100.00"),
            ("DEBIT", "30.00", "70.00"),
            ("CREDIT", "5.00", "75.00"),
        ]


def test_statement_csv_streams_every_entry_in_chunks(clock, user, auth_client, monkeypatch):
    from transactions import apis

    monkeypatch.setattr(apis, "STATEMENT_CSV_CHUNK", 2)
    mine = AccountFactory(owner=user)
    for day in range(5):
        clock.at(T0 + timedelta(days=day))
        account_fund(mine, "1.00")

    response = auth_client.get(
        statement_url(mine, **{"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "format": "csv"})
    )

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[6] for row in rows[1:]] == ["1.00", "2.00", "3.00", "4.00", "5.00"]


def test_statement_errors_are_json_even_when_csv_is_asked_for(history, auth_client):
    response = auth_client.get(statement_url(history, **{"from": "bad", "to": "worse"}), HTTP_ACCEPT="text/csv")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "validation_error"


def test_statement_head_is_one_statement_on_indexes(history):
    """Opening, closing and totals in one SQL statement (one snapshot), on the time index."""
    with CaptureQueriesContext(connection) as queries:
        account_statement(
            account=history, start=datetime(2026, 1, 15, tzinfo=UTC), end=datetime(2026, 4, 1, tzinfo=UTC)
        )
    assert len(queries) == 1
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + queries[0]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert plan.count("ledger_entry_account_time_idx") == 3, plan
    assert "Index Only Scan" in plan, plan  # the totals never read the table


# --- the property: opening + credits - debits = closing ------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_statements_add_up_over_random_histories(seed, clock, user, other_user):
    """Random transfers both ways (and funding, and declines) at random increasing instants, then
    random periods: the statement adds up, its ends are the asOf balances just before `from` and
    `to`, and its entries are exactly those of the period."""
    rng = random.Random(seed)
    mine, theirs = AccountFactory(owner=user), AccountFactory(owner=other_user)
    clock.at(T0)
    account_fund(mine, "500.00")
    account_fund(theirs, "500.00")
    instant = T0
    for _ in range(rng.randint(20, 60)):
        # Several entries may share an instant, as in a bulk load.
        instant += timedelta(seconds=rng.choice([0, 1, 7, 3600, 86400 * rng.randint(1, 20)]))
        clock.at(instant)
        amount = f"{rng.randint(1, 30000) / 100:.2f}"
        if rng.random() < 0.1:
            account_fund(mine, amount)
        elif rng.random() < 0.5:
            transfer(mine, theirs, amount)  # may be declined: a FAILED transaction, no entries
        else:
            transfer(theirs, mine, amount)
    clock.at(instant + timedelta(days=1))
    assert_ledger_ok()
    entries = list(LedgerEntry.objects.filter(account=mine).order_by("id"))
    end_of_history = instant + timedelta(seconds=1)

    for _ in range(25):
        start = T0 - timedelta(days=1) + (end_of_history - T0 + timedelta(days=1)) * rng.random()
        if rng.random() < 0.3:
            start = rng.choice(entries).created_at  # exactly on an entry's instant: it is in the period
        end = start + min(
            timedelta(days=366), (end_of_history - start) * rng.random() * 1.2 + timedelta(microseconds=1)
        )
        st = account_statement(account=mine, start=start, end=end)

        assert st.opening + st.credits - st.debits == st.closing
        assert st.opening == account_balance_as_of(account=mine, instant=start - timedelta(microseconds=1))
        assert st.closing == account_balance_as_of(account=mine, instant=end - timedelta(microseconds=1))
        period = [e for e in entries if start <= e.created_at < end]
        assert [e.id for e in st.entries.order_by("id")] == [e.id for e in period]
        assert st.count == len(period)
        assert st.credits == sum(e.amount for e in period if e.type == "CREDIT")


def test_an_entry_is_never_older_than_the_one_before_it(clock, user, other_user):
    """Another process's clock may run behind: the entry then takes its account's last instant,
    so the statement's periods still find it where its balance says it is."""
    mine, theirs = AccountFactory(owner=user), AccountFactory(owner=other_user)
    clock.at(datetime(2026, 3, 1, tzinfo=UTC))
    account_fund(mine, "100.00")
    clock.at(datetime(2026, 2, 1, tzinfo=UTC))  # a month behind
    transfer(mine, theirs, "40.00")

    first, second = LedgerEntry.objects.filter(account=mine).order_by("id")
    assert second.created_at >= first.created_at
    st = account_statement(account=mine, start=datetime(2026, 2, 15, tzinfo=UTC), end=datetime(2026, 4, 1, tzinfo=UTC))
    assert (st.opening, st.credits, st.debits, st.closing) == (0, 10000, 4000, 6000)
    assert_ledger_ok()


CHAIN_CHECK = "each entry's balance_after follows the account's previous entry, and its time is not earlier"


@pytest.mark.parametrize("corruption", ["older", "wrong_balance_after"])
def test_verify_ledger_finds_an_entry_out_of_its_chain(clock, user, other_user, corruption):
    """Written around the service (raw SQL), an entry older than the one before it, or whose
    balance_after does not follow, is reported with its account."""
    mine, theirs = AccountFactory(owner=user), AccountFactory(owner=other_user)
    clock.at(datetime(2026, 3, 1, tzinfo=UTC))
    account_fund(mine, "100.00")
    txn = transfer(mine, theirs, "40.00")
    debit = LedgerEntry.objects.get(transaction=txn, type="DEBIT")
    column, value = {
        "older": ("created_at", datetime(2026, 2, 1, tzinfo=UTC)),
        "wrong_balance_after": ("balance_after", 5000),
    }[corruption]
    with connection.cursor() as cursor:
        # The append-only trigger refuses UPDATE; the test's own session may switch it off.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(f"UPDATE transactions_ledgerentry SET {column} = %s WHERE id = %s", [value, debit.id])
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")

    from transactions.audit import ledger_verify

    assert ledger_verify().violations.get(CHAIN_CHECK) == [str(mine.id)]


def test_the_statement_route_adds_up_page_by_page(clock, user, other_user, auth_client):
    """Through HTTP, following `next`: the entries of every page, summed, take the opening
    balance to the closing one, and every page repeats the same head."""
    rng = random.Random(7)
    mine, theirs = AccountFactory(owner=user), AccountFactory(owner=other_user)
    clock.at(T0)
    account_fund(mine, "300.00")
    account_fund(theirs, "300.00")
    instant = T0
    for _ in range(40):
        instant += timedelta(hours=rng.randint(0, 48))
        clock.at(instant)
        source, target = (mine, theirs) if rng.random() < 0.5 else (theirs, mine)
        transfer(source, target, f"{rng.randint(1, 5000) / 100:.2f}")
    clock.at(instant + timedelta(days=1))

    for _ in range(5):
        start = T0 + (instant - T0) * rng.random()
        end = start + (instant + timedelta(hours=1) - start) * rng.random()
        url = statement_url(mine, **{"from": z(start), "to": z(end), "limit": 3})
        heads, moved, count = set(), Decimal(0), 0
        while url:
            body = auth_client.get(url).json()
            heads.add(
                tuple(body[k] for k in ("openingBalance", "closingBalance", "totalCredits", "totalDebits", "count"))
            )
            for entry in body["entries"]:
                moved += Decimal(entry["amount"]) * (1 if entry["type"] == "CREDIT" else -1)
                count += 1
            url = body["next"]
        ((opening, closing, credits, debits, total),) = heads
        assert Decimal(opening) + Decimal(credits) - Decimal(debits) == Decimal(closing)
        assert Decimal(opening) + moved == Decimal(closing)
        assert count == total
