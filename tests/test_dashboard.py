"""The operator's dashboard on the admin home (ledger_project/dashboard.py): its numbers, its
alarms, its charts' markup, who may see it, and what it costs in queries."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Account
from ledger_project.charts import Segment, bar_chart
from ledger_project.dashboard import (
    HOURS_SHOWN,
    currency_position_list,
    dashboard_panels,
    outbox_backlog_get,
    transfer_hour_list,
)
from notifications.models import OutboxEmail
from tests.factories import AccountFactory, UserFactory, funded_account, transfer
from transactions.audit import ledger_audit
from transactions.models import LedgerAudit, Transaction

ADMIN_HOME = "/admin/"
NOW = datetime(2026, 6, 1, 12, 30, tzinfo=UTC)


@pytest.fixture
def operator(db):
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(operator):
    client = Client()
    client.force_login(operator)
    return client


def backdate(txn, when):
    """Move a transaction to another hour. Only its time changes (the ledger's guards allow
    that); the hours the dashboard shows are then fixed whatever the clock says."""
    Transaction.objects.filter(id=txn.id).update(created_at=when)


def traffic():
    """Customers in INR and USD, funded, with transfers and declines in chosen hours:

    hour NOW-2h: 2 transfers, 1 declined; hour NOW (the current one): 1 transfer;
    and one transfer 3 days before, outside the window."""
    alice, bob = UserFactory(), UserFactory()
    inr = funded_account("100.00", owner=alice)
    inr_bob = AccountFactory(owner=bob)
    usd = funded_account("7.50", owner=bob, currency="USD")
    backdate(transfer(inr, inr_bob, "10.00"), NOW - timedelta(hours=2, minutes=10))
    backdate(transfer(inr, inr_bob, "1000.00"), NOW - timedelta(hours=2, minutes=5))  # declined
    backdate(transfer(inr, inr_bob, "5.00"), NOW - timedelta(minutes=20))
    backdate(transfer(inr, inr_bob, "1.00"), NOW - timedelta(hours=HOURS_SHOWN))
    return {"inr": inr, "usd": usd}


def test_money_per_currency_sums_customers_and_funding_to_zero(db):
    funded_account("100.00")
    funded_account("0.50")
    funded_account("7.50", currency="USD")

    positions = {p.currency: p for p in currency_position_list()}

    assert set(positions) == {"INR", "USD"}
    assert (positions["INR"].customers, positions["INR"].funding) == (10050, -10050)
    assert (positions["USD"].customers, positions["USD"].funding) == (750, -750)
    assert positions["INR"].balanced and positions["USD"].balanced
    assert positions["INR"].customers_display == "100.50 INR"
    assert positions["INR"].funding_display == "-100.50 INR"
    assert positions["INR"].total_display == "0.00 INR"


def test_a_transfer_between_customers_leaves_the_positions_as_they_were(db):
    source = funded_account("100.00")
    transfer(source, AccountFactory(), "40.00")

    (inr,) = currency_position_list()

    assert (inr.customers, inr.funding, inr.total) == (10000, -10000, 0)


def test_the_page_shows_money_as_the_api_does_with_a_zero_check(admin_client):
    funded_account("100.00")

    page = admin_client.get(ADMIN_HOME).content.decode()

    assert "100.00 INR" in page and "-100.00 INR" in page
    assert re.search(r'data-balanced="yes"[^>]*>✓ 0\.00 INR<', page)
    assert 'data-balanced="no"' not in page
    assert "do not sum to zero" not in page


def test_money_made_outside_a_transfer_is_a_red_warning(admin_client):
    account = funded_account("100.00")
    # Around the services, as a bad migration or a hand-written UPDATE would.
    Account.objects.filter(id=account.id).update(balance=F("balance") + 1)

    (inr,) = currency_position_list()
    page = admin_client.get(ADMIN_HOME).content.decode()

    assert (inr.total, inr.balanced) == (1, False)
    assert re.search(r'dashboard-alarm" data-balanced="no"[^>]*>⚠ 0\.01 INR<', page)
    assert "do not sum to zero" in page


def test_transfers_and_declines_per_hour(db):
    traffic()

    hours = transfer_hour_list(now=NOW)

    assert len(hours) == HOURS_SHOWN
    assert hours[0].hour == datetime(2026, 5, 29, 13, tzinfo=UTC)
    assert hours[-1].hour == datetime(2026, 6, 1, 12, tzinfo=UTC)
    counted = {h.hour: (h.count, h.declined) for h in hours if h.count}
    # Fundings are not transfers; the transfer 72 hours back is outside the window.
    assert counted == {
        datetime(2026, 6, 1, 10, tzinfo=UTC): (2, 1),
        datetime(2026, 6, 1, 12, tzinfo=UTC): (1, 0),
    }
    assert hours[-3].decline_percent == 50
    assert hours[-1].decline_percent == 0
    assert hours[-2].decline_percent is None


def test_the_transfers_panel_totals_and_decline_rate(db):
    traffic()

    (panel,) = [p for p in dashboard_panels(now=NOW) if p["name"] == "transfers"]

    assert (panel["data"]["count"], panel["data"]["declined"]) == (3, 1)
    assert round(panel["data"]["decline_percent"], 2) == 33.33


def test_outbox_backlog_counts_unsent_and_failed_rows(db):
    def row(**fields):
        return OutboxEmail.objects.create(to="a@example.com", subject="s", body="b", **fields)

    sent = row(sent_at=NOW)
    oldest, newer = row(), row()
    row(failed_at=NOW, attempts=5)
    OutboxEmail.objects.filter(id=sent.id).update(created_at=NOW - timedelta(days=9))
    OutboxEmail.objects.filter(id=oldest.id).update(created_at=NOW - timedelta(hours=3))
    OutboxEmail.objects.filter(id=newer.id).update(created_at=NOW - timedelta(minutes=1))

    backlog = outbox_backlog_get()
    (panel,) = [p for p in dashboard_panels(now=NOW) if p["name"] == "outbox"]

    assert (backlog.unsent, backlog.oldest_unsent_at, backlog.failed) == (2, NOW - timedelta(hours=3), 1)
    assert panel["data"]["oldest_age"] == "3\xa0hours"


def test_an_empty_outbox(admin_client):
    backlog = outbox_backlog_get()
    page = admin_client.get(ADMIN_HOME).content.decode()

    assert (backlog.unsent, backlog.oldest_unsent_at, backlog.failed) == (0, None, 0)
    assert re.search(r'data-outbox="oldest-age">—<', page)


def test_the_last_audit_and_its_result(admin_client):
    assert 'data-audit="never"' in admin_client.get(ADMIN_HOME).content.decode()

    funded_account("1.00")
    ledger_audit()
    passed = admin_client.get(ADMIN_HOME).content.decode()
    LedgerAudit.objects.create(
        started_at=NOW,
        finished_at=NOW + timedelta(days=400),  # the newest
        ok=False,
        summary="ledger VIOLATED: ...",
        violations={"balance_matches_entries": ["a", "b"]},
    )
    violated = admin_client.get(ADMIN_HOME).content.decode()

    assert 'data-audit="ok"' in passed and "ledger OK: 2 accounts, 1 transactions" in passed
    assert 'data-audit="violated"' in violated
    assert re.search(r"balance_matches_entries</th><td>2 offending", violated)


def test_the_charts_are_inline_svg_with_a_bar_per_hour(admin_client):
    traffic()

    page = admin_client.get(ADMIN_HOME).content.decode()

    for chart in ("transfers-per-hour", "decline-rate-per-hour"):
        svg = re.search(rf'<svg class="chart" data-chart="{chart}".*?</svg>', page, re.S)
        assert svg, chart
        assert svg.group(0).count('<g class="bar">') == HOURS_SHOWN
    assert 'id="chart-transfers-per-hour"' in page
    # Served from the page itself: no script and nothing fetched from another host.
    assert '<script src="http' not in page and "cdn" not in page.lower()


def test_bars_stack_and_scale_to_a_round_top():
    chart = bar_chart(
        [("a", [Segment(30, "completed"), Segment(10, "declined")]), ("b", [Segment(0, "completed")])],
        axis_labels=["a", "b"],
    )

    (completed, declined), empty = chart.bars[0].rects, chart.bars[1].rects
    assert chart.top_value == "50"  # 40 rounds up to 50
    assert (completed.height, declined.height) == (72, 24)  # 30/50 and 10/50 of 120
    assert declined.y + declined.height == completed.y  # on top of it
    assert completed.y + completed.height == chart.plot_bottom
    assert empty == []


def test_a_percentage_scale_stops_at_100():
    chart = bar_chart([("a", [Segment(100, "declined")])], axis_labels=["a"], scale_cap=100, unit="%")

    assert chart.top_value == "100%"
    assert chart.bars[0].rects[0].height == 120


def test_only_staff_see_the_dashboard(db):
    funded_account("100.00")
    anonymous, customer = Client(), Client()
    customer.force_login(UserFactory(is_staff=False))

    for client in (anonymous, customer):
        response = client.get(ADMIN_HOME)
        assert response.status_code == 302
        assert response["Location"] == "/admin/login/?next=/admin/"
        assert "dashboard_panels" not in (response.context or {})


def test_the_dashboard_costs_a_fixed_number_of_queries(admin_client, django_assert_max_num_queries):
    with CaptureQueriesContext(connection) as empty:
        admin_client.get(ADMIN_HOME)
    traffic()
    for currency in ("EUR", "GBP", "JPY"):
        funded_account("10", currency=currency)
    OutboxEmail.objects.create(to="a@example.com", subject="s", body="b", failed_at=NOW)
    ledger_audit()

    with django_assert_max_num_queries(len(empty)):
        response = admin_client.get(ADMIN_HOME)

    assert response.status_code == 200
    assert len(response.context["dashboard_panels"]) == 4


def test_the_panels_are_one_query_each(db, django_assert_num_queries):
    traffic()

    with django_assert_num_queries(4):
        dashboard_panels(now=NOW)
