"""/metrics for Prometheus: django-prometheus's request and database metrics, and the ledger's own.

The ledger's figures are read from the database at scrape time by `LedgerCollector`, so the
transfer path pays nothing for them and every process answers the same. Who may read the page is
`METRICS_ALLOWED_NETWORKS` (by client address, resolved like the throttles') or
`METRICS_BEARER_TOKEN`; anyone else gets the 404 of an unknown route.

Under gunicorn, each worker process counts its own requests: deploy/gunicorn.conf.py points
prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR) at a directory the workers
share, and the page adds them all up, whichever worker serves the scrape.
"""

import hmac
import ipaddress
import os
import threading
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from notifications.selectors import outbox_backlog
from transactions.models import Hold
from transactions.selectors import ledger_audit_latest, transaction_outcome_totals

from .exceptions import MethodNotAllowedError, NotFoundError, error_response
from .throttling import client_address

# A transaction's key is counted once it is this old: by then its transfer has committed or
# rolled back (each of its statements gives up after DB_STATEMENT_TIMEOUT_MS).
SETTLE_SECONDS = 60


def metrics_reader_allowed(request) -> bool:
    """The scrape comes from an allowed network, or carries the configured bearer token."""
    token = settings.METRICS_BEARER_TOKEN
    if token:
        sent = request.META.get("HTTP_AUTHORIZATION", "")
        if hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return True
    try:
        address = ipaddress.ip_address(client_address(request).strip())
    except ValueError:  # no address, or a proxy's header that is not one: nobody we know
        return False
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


@csrf_exempt  # whoever may not read it gets the unknown route's 404 for every method, not a CSRF 403
def metrics_view(request):
    if not metrics_reader_allowed(request):
        return error_response(NotFoundError())
    if request.method not in ("GET", "HEAD"):
        return error_response(MethodNotAllowedError(MethodNotAllowedError.message.format(method=request.method)))
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        process_registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(process_registry)
    else:
        process_registry = REGISTRY
    ledger_registry = CollectorRegistry(auto_describe=False)
    ledger_registry.register(LedgerCollector())
    body = generate_latest(process_registry) + generate_latest(ledger_registry)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


class _RunningTotals:
    """Transactions counted so far by (kind, outcome, code, currency): the process adds to them
    at each scrape what committed since the last (transaction_outcome_totals), so only the first
    scrape of a process reads the whole table."""

    def __init__(self):
        self._lock = threading.Lock()
        self.last_key_id = 0
        self.counts: dict[tuple, int] = {}
        self.amounts: dict[tuple, int] = {}

    def refresh(self):
        with self._lock:
            settled_before = timezone.now() - timedelta(seconds=SETTLE_SECONDS)
            self.last_key_id, rows = transaction_outcome_totals(
                after_key_id=self.last_key_id, settled_before=settled_before
            )
            for row in rows:
                declined = row["status"] == "FAILED"  # a reversed transaction did complete
                labels = (row["kind"], "declined" if declined else "completed", row["failure_reason"], row["currency"])
                self.counts[labels] = self.counts.get(labels, 0) + row["count"]
                if not declined:
                    moved = (row["kind"], row["currency"])
                    self.amounts[moved] = self.amounts.get(moved, 0) + row["amount"]

    def reset(self):
        """Forget the totals (tests: each starts from an empty database)."""
        with self._lock:
            self.last_key_id, self.counts, self.amounts = 0, {}, {}


running_totals = _RunningTotals()


def hold_state_counts() -> dict[str, int]:
    """Open holds, for `ledger_holds`: PENDING ones still reserving money, and those past their
    expiry that beat's sweep has not marked EXPIRED yet (they already count for nothing). Only
    PENDING rows are read, through the partial index hold_pending_sweep_idx: finished holds are
    history and grow without bound, so they are not counted at each scrape."""
    row = Hold.objects.filter(status=Hold.Status.PENDING).aggregate(
        pending=Count("id", filter=Q(expires_at__gt=timezone.now())),
        pending_expired=Count("id", filter=Q(expires_at__lte=timezone.now())),
    )
    return {"PENDING": row["pending"], "PENDING_PAST_EXPIRY": row["pending_expired"]}


class LedgerCollector:
    """The ledger's figures, read from the database at each scrape: a few indexed queries."""

    def describe(self):
        return []

    def collect(self):
        running_totals.refresh()
        transactions = CounterMetricFamily(
            "ledger_transactions",
            f"Transactions written, by kind, outcome and decline code (counted {SETTLE_SECONDS} s after their claim).",
            labels=["kind", "outcome", "code", "currency"],
        )
        for labels, count in sorted(running_totals.counts.items()):
            transactions.add_metric(list(labels), count)
        yield transactions

        moved = CounterMetricFamily(
            "ledger_moved_minor_units",
            "Money moved by completed transactions, in the currency's minor unit (paise, cents).",
            labels=["kind", "currency"],
        )
        for labels, amount in sorted(running_totals.amounts.items()):
            moved.add_metric(list(labels), amount)
        yield moved

        backlog = outbox_backlog()
        yield GaugeMetricFamily(
            "ledger_outbox_unsent_emails", "Emails neither sent nor failed.", value=backlog["unsent"]
        )
        oldest = backlog["oldest"]
        age = (timezone.now() - oldest).total_seconds() if oldest else 0
        yield GaugeMetricFamily(
            "ledger_outbox_oldest_unsent_age_seconds",
            "Age of the oldest unsent email; 0 when none is waiting.",
            value=age,
        )

        audit = ledger_audit_latest()
        if audit is not None:  # before the first run there is nothing to report, not a failure
            yield GaugeMetricFamily(
                "ledger_audit_last_ok", "1 if the newest verify_ledger run found no violation, else 0.", value=audit.ok
            )
            yield GaugeMetricFamily(
                "ledger_audit_last_finished_timestamp_seconds",
                "When the newest verify_ledger run finished (Unix time).",
                value=audit.finished_at.timestamp(),
            )

        holds = GaugeMetricFamily("ledger_holds", "Holds by state.", labels=["state"])
        for state, count in sorted(hold_state_counts().items()):
            holds.add_metric([state], count)
        yield holds
