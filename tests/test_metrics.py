"""/metrics: who may read it, and the ledger's own figures in it (ledger_project/metrics.py)."""

import ipaddress
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from ledger_project.metrics import running_totals
from notifications.models import OutboxEmail
from notifications.services import email_enqueue
from tests.factories import AccountFactory, funded_account, hold, transfer
from transactions.audit import ledger_audit
from transactions.holds import hold_void
from transactions.models import IdempotencyKey, Transaction
from transactions.services import transaction_reverse

NOT_FOUND = {"message": "Not found.", "code": "not_found"}
PUBLIC = "203.0.113.5"


@pytest.fixture(autouse=True)
def _fresh_running_totals():
    # Key ids are not rolled back with a test's transaction: each test counts from nothing.
    running_totals.reset()
    yield
    running_totals.reset()


def scrape(client, **headers) -> dict:
    """{(name, labels): value} of every sample on the page."""
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content[:200]
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def ledger_samples(samples: dict, name: str) -> dict:
    return {labels: value for (sample, labels), value in samples.items() if sample == name}


def outcome(kind, result, code="", currency="INR") -> tuple:
    return (("code", code), ("currency", currency), ("kind", kind), ("outcome", result))


def settle():
    """Age every claimed key past the settle time, as a minute would."""
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(minutes=2))


# --- Who may read it --------------------------------------------------------------------------


def test_the_loopback_reads_request_database_and_ledger_metrics(client, db):
    client.get("/api/health")

    samples = scrape(client)

    names = {name for name, _ in samples}
    assert "django_http_requests_total_by_method_total" in names
    assert "django_db_execute_total" in names
    assert "ledger_outbox_unsent_emails" in names


@pytest.mark.parametrize(
    "trusted_proxies, remote, forwarded",
    [
        (0, PUBLIC, None),
        (0, PUBLIC, "127.0.0.1"),  # a client's own X-Forwarded-For, with no proxy to vouch for it
        (1, "127.0.0.1", PUBLIC),  # through the proxy on the loopback: the client it forwarded
        (1, "127.0.0.1", f"127.0.0.1, {PUBLIC}"),  # a forged entry before the proxy's own
        (1, "127.0.0.1", "not-an-address"),
        (1, "127.0.0.1", ""),
    ],
)
def test_anyone_else_gets_the_404_of_an_unknown_route(client, db, settings, trusted_proxies, remote, forwarded):
    settings.TRUSTED_PROXY_COUNT = trusted_proxies
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": trusted_proxies}
    headers = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded

    response = client.get("/metrics", **headers)

    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert b"ledger_" not in response.content


def test_a_client_the_trusted_proxy_forwards_from_an_allowed_network_may_read(client, db, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]

    assert scrape(client, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR=PUBLIC).status_code == 404


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_other_methods_are_a_404_to_the_public_and_a_405_to_a_reader(db, method):
    client = APIClient(enforce_csrf_checks=True)

    public = getattr(client, method)("/metrics", REMOTE_ADDR=PUBLIC)
    reader = getattr(client, method)("/metrics")

    assert (public.status_code, public.json()) == (404, NOT_FOUND)
    assert (reader.status_code, reader.json()["code"]) == (405, "method_not_allowed")


def test_the_bearer_token_admits_a_reader_from_anywhere(client, db, settings):
    settings.METRICS_BEARER_TOKEN = "a-long-random-scrape-token-0123456789"

    assert scrape(client, REMOTE_ADDR=PUBLIC, HTTP_AUTHORIZATION="Bearer a-long-random-scrape-token-0123456789")
    for wrong in ["Bearer a-long-random-scrape-token", "Bearer ", "a-long-random-scrape-token-0123456789", ""]:
        response = client.get("/metrics", REMOTE_ADDR=PUBLIC, HTTP_AUTHORIZATION=wrong)
        assert (response.status_code, response.json()) == (404, NOT_FOUND), wrong


def test_without_a_token_configured_an_empty_bearer_is_no_key(client, db, settings):
    settings.METRICS_BEARER_TOKEN = ""

    assert client.get("/metrics", REMOTE_ADDR=PUBLIC, HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_an_ipv4_mapped_loopback_is_the_loopback(client, db):
    assert scrape(client, REMOTE_ADDR="::ffff:127.0.0.1")


# --- The ledger's figures ---------------------------------------------------------------------


def test_transactions_by_outcome_and_decline_code_with_the_amounts_moved(client, user, system_user):
    source = funded_account("100.00", owner=user)  # a FUNDING of 100.00 INR
    target = AccountFactory(currency="INR")
    transfer(source, target, "30.00")
    transfer(source, target, "0.50")
    transfer(source, target, "500.00")  # declined: insufficient funds
    completed = Transaction.objects.get(kind="TRANSFER", amount=50)
    transaction_reverse(initiator=system_user, transaction_id=completed.id, idempotency_key="undo", reason="test")
    settle()

    samples = scrape(client)

    counts = ledger_samples(samples, "ledger_transactions_total")
    assert counts == {
        outcome("FUNDING", "completed"): 1,
        outcome("REVERSAL", "completed"): 1,
        # The reversed transfer still completed: a counter never goes down.
        outcome("TRANSFER", "completed"): 2,
        outcome("TRANSFER", "declined", "insufficient_funds"): 1,
    }
    moved = ledger_samples(samples, "ledger_moved_minor_units_total")
    assert moved == {
        (("currency", "INR"), ("kind", "FUNDING")): 10000,
        (("currency", "INR"), ("kind", "REVERSAL")): 50,
        (("currency", "INR"), ("kind", "TRANSFER")): 3050,
    }


def test_a_transaction_is_counted_once_settled_and_only_once(client, user):
    source = funded_account("100.00", owner=user)
    target = AccountFactory(currency="INR")
    settle()
    first = ledger_samples(scrape(client), "ledger_transactions_total")
    assert sum(first.values()) == 1  # the funding

    transfer(source, target, "1.00")  # claimed just now: its commit may still be racing others
    assert sum(ledger_samples(scrape(client), "ledger_transactions_total").values()) == 1

    settle()
    assert sum(ledger_samples(scrape(client), "ledger_transactions_total").values()) == 2
    assert sum(ledger_samples(scrape(client), "ledger_transactions_total").values()) == 2


def test_a_scrape_reads_only_what_is_new(client, user, django_assert_max_num_queries):
    source = funded_account("1000.00", owner=user)
    target = AccountFactory(currency="INR")
    for _ in range(30):
        transfer(source, target, "1.00")
    settle()
    scrape(client)  # the first scrape of a process reads the table once
    counted = IdempotencyKey.objects.order_by("-id").values_list("id", flat=True).first()
    transfer(source, target, "1.00")
    settle()

    # The newest settled key (1), the transactions after the last one counted (1), the outbox
    # (1), the audit (1), the open holds (1): none grows with the table.
    with django_assert_max_num_queries(5) as queries:
        samples = scrape(client)

    reads = [q["sql"] for q in queries.captured_queries if 'FROM "transactions_transaction"' in q["sql"]]
    assert len(reads) == 1 and f'"transactions_transaction"."idempotency_id" > {counted}' in reads[0]
    assert sum(ledger_samples(samples, "ledger_transactions_total").values()) == 32


def test_outbox_backlog_and_the_age_of_its_oldest_email(client, db):
    assert ledger_samples(scrape(client), "ledger_outbox_oldest_unsent_age_seconds") == {(): 0}
    old = email_enqueue(to="a@example.com", subject="s", body="b")
    OutboxEmail.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(minutes=10))
    email_enqueue(to="b@example.com", subject="s", body="b")
    sent = email_enqueue(to="c@example.com", subject="s", body="b")
    OutboxEmail.objects.filter(id=sent.id).update(sent_at=timezone.now(), created_at=timezone.now() - timedelta(days=1))

    samples = scrape(client)

    assert ledger_samples(samples, "ledger_outbox_unsent_emails") == {(): 2}
    assert 600 <= ledger_samples(samples, "ledger_outbox_oldest_unsent_age_seconds")[()] < 660


def test_the_last_audit_result_and_time(client, db):
    assert not ledger_samples(scrape(client), "ledger_audit_last_ok")  # no run yet: nothing, not a 0

    audit = ledger_audit()

    samples = scrape(client)
    assert ledger_samples(samples, "ledger_audit_last_ok") == {(): 1.0}
    assert ledger_samples(samples, "ledger_audit_last_finished_timestamp_seconds") == {
        (): pytest.approx(audit.finished_at.timestamp())
    }


def test_open_holds_by_state(client, user, other_user, monkeypatch):
    source = funded_account("100.00", owner=user)
    target = AccountFactory(owner=other_user)
    hold(source, target, "10.00")
    late = hold(source, target, "1.00", expires_in=60)
    hold_void(initiator=user, hold_id=hold(source, target, "2.00").id, idempotency_key="void")

    # The scrape's clock at the short hold's expiry: past it, not yet swept.
    monkeypatch.setattr("ledger_project.metrics.timezone", SimpleNamespace(now=lambda: late.expires_at))
    holds = ledger_samples(scrape(client), "ledger_holds")

    # The voided one is history: only open holds are counted.
    assert holds == {(("state", "PENDING"),): 1, (("state", "PENDING_PAST_EXPIRY"),): 1}
