"""The operator's dashboard on the admin home: what the ledger holds and how it is doing.

Each selector is one aggregate query returning plain data, so the page costs a fixed number of
queries however many accounts, hours or rows there are. Each panel pairs a selector with a
template (`admin/dashboard/<name>.html`); adding a panel is one function and one template, listed
in PANELS.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib import admin
from django.db.models import Count, Min, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone
from django.utils.timesince import timesince

from accounts.models import Account
from notifications.models import OutboxEmail
from transactions.models import Transaction
from transactions.selectors import ledger_audit_latest

from .admin_display import money_display
from .charts import BarChart, Segment, bar_chart

HOURS_SHOWN = 72


# --- Selectors: plain data, one query each --------------------------------------------------


@dataclass(frozen=True)
class CurrencyPosition:
    """Money in one currency: what customers hold and the funding accounts' position (negative:
    what was brought in). Every movement has two equal sides, so the two always sum to zero."""

    currency: str
    customers: int
    funding: int

    @property
    def total(self) -> int:
        return self.customers + self.funding

    @property
    def balanced(self) -> bool:
        return self.total == 0

    # As the API shows amounts: "1500.00 INR".
    @property
    def customers_display(self) -> str:
        return money_display(self.customers, self.currency)

    @property
    def funding_display(self) -> str:
        return money_display(self.funding, self.currency)

    @property
    def total_display(self) -> str:
        return money_display(self.total, self.currency)


def currency_position_list() -> list[CurrencyPosition]:
    """Per currency, the sum of customers' balances and of funding accounts' balances.

    Sums the stored balances (one row per account), never the entries: the accounts table grows
    with customers, the entries with every transfer."""
    rows = (
        Account.objects.values("currency")
        .annotate(
            customers=Sum("balance", filter=Q(is_system=False), default=0),
            funding=Sum("balance", filter=Q(is_system=True), default=0),
        )
        .order_by("currency")
    )
    return [CurrencyPosition(row["currency"], row["customers"], row["funding"]) for row in rows]


@dataclass(frozen=True)
class TransferHour:
    hour: datetime
    count: int
    declined: int

    @property
    def decline_percent(self) -> float | None:
        """Declined as a share of the hour's transfers, None for an hour without any."""
        return 100 * self.declined / self.count if self.count else None


def transfer_hour_list(*, now: datetime, hours: int = HOURS_SHOWN) -> list[TransferHour]:
    """Transfers and declines in each of the last `hours` hours (the current one included), oldest
    first, hours without transfers as zeros.

    Counts kind TRANSFER only: fundings and reversals are operators' own acts, not customers'
    traffic. The range is read through the index on created_at, which carries kind and status
    (counting rows and statuses, never ids, keeps it an index-only scan)."""
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    first = current - timedelta(hours=hours - 1)
    rows = (
        Transaction.objects.filter(kind=Transaction.Kind.TRANSFER, created_at__gte=first)
        .annotate(hour=TruncHour("created_at", tzinfo=UTC))
        .values("hour")
        .annotate(count=Count("*"), declined=Count("status", filter=Q(status=Transaction.Status.FAILED)))
    )
    by_hour = {row["hour"]: row for row in rows}
    shown = []
    for offset in range(hours):
        hour = first + timedelta(hours=offset)
        row = by_hour.get(hour, {"count": 0, "declined": 0})
        shown.append(TransferHour(hour, row["count"], row["declined"]))
    return shown


@dataclass(frozen=True)
class OutboxBacklog:
    unsent: int
    oldest_unsent_at: datetime | None
    failed: int


def outbox_backlog_get() -> OutboxBacklog:
    """Emails waiting to be sent (and since when), and the dead letters that never will be."""
    # Unsent and failed rows are exactly those never sent: read them alone, through the partial
    # index outbox_not_sent_idx, not the millions of sent rows around them.
    unsent = Q(failed_at__isnull=True)
    row = OutboxEmail.objects.filter(sent_at__isnull=True).aggregate(
        unsent=Count("id", filter=unsent),
        oldest_unsent_at=Min("created_at", filter=unsent),
        failed=Count("id", filter=~unsent),
    )
    return OutboxBacklog(**row)


# --- Panels: a selector's data as its template shows it -------------------------------------


def money_panel(*, now: datetime) -> dict:
    positions = currency_position_list()
    return {"positions": positions, "all_balanced": all(position.balanced for position in positions)}


def transfers_panel(*, now: datetime) -> dict:
    hours = transfer_hour_list(now=now)
    count = sum(hour.count for hour in hours)
    declined = sum(hour.declined for hour in hours)
    return {
        "hours": len(hours),
        "count": count,
        "declined": declined,
        "decline_percent": 100 * declined / count if count else None,
        "volume_chart": _volume_chart(hours),
        "decline_chart": _decline_chart(hours),
    }


def outbox_panel(*, now: datetime) -> dict:
    backlog = outbox_backlog_get()
    oldest_age = timesince(backlog.oldest_unsent_at, now) if backlog.oldest_unsent_at else None
    return {"backlog": backlog, "oldest_age": oldest_age}


def audit_panel(*, now: datetime) -> dict:
    audit = ledger_audit_latest()
    if audit is None:
        return {"audit": None}
    return {
        "audit": audit,
        # The summary's first line; the rest lists offending ids, counted here instead.
        "headline": audit.summary.splitlines()[0] if audit.summary else "",
        "violations": [(name, len(ids)) for name, ids in audit.violations.items()],
    }


def _hour_label(hour: datetime) -> str:
    return f"{hour:%Y-%m-%d %H:00}"


def _volume_chart(hours: list[TransferHour]) -> BarChart:
    return bar_chart(
        [
            (
                f"{_hour_label(h.hour)}: {h.count} transfers, {h.declined} declined",
                [Segment(h.count - h.declined, "completed"), Segment(h.declined, "declined")],
            )
            for h in hours
        ],
        axis_labels=[f"{h.hour:%m-%d %H:00}" for h in hours],
    )


def _decline_chart(hours: list[TransferHour]) -> BarChart:
    return bar_chart(
        [
            (
                f"{_hour_label(h.hour)}: " + (f"{h.decline_percent:.1f} % declined" if h.count else "no transfers"),
                [Segment(h.decline_percent or 0, "declined")],
            )
            for h in hours
        ],
        axis_labels=[f"{h.hour:%m-%d %H:00}" for h in hours],
        scale_cap=100,
        unit="%",
    )


@dataclass(frozen=True)
class Panel:
    name: str  # its template is admin/dashboard/<name>.html
    title: str
    data: Callable[..., dict]


# Whether the ledger is right first (side by side on a wide screen), then its traffic.
PANELS = [
    Panel("money", "Money per currency", money_panel),
    Panel("audit", "Last ledger audit", audit_panel),
    Panel("transfers", f"Transfers per hour, last {HOURS_SHOWN} hours (UTC)", transfers_panel),
    Panel("outbox", "Outbox", outbox_panel),
]


def dashboard_panels(*, now: datetime) -> list[dict]:
    """Every panel's title, template and data, in the order the page shows them."""
    return [
        {
            "name": panel.name,
            "title": panel.title,
            "template": f"admin/dashboard/{panel.name}.html",
            "data": panel.data(now=now),
        }
        for panel in PANELS
    ]


def admin_index(request):
    """The admin home with the dashboard above the app list. urls.py routes /admin/ here through
    admin.site.admin_view, so only active staff reach it (anyone else gets the admin's login)."""
    return admin.site.index(request, extra_context={"dashboard_panels": dashboard_panels(now=timezone.now())})
