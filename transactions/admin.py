"""The ledger in the admin: transactions and entries read-only, money as the API shows it, newest
first, linked both ways. Reversal is a confirmation page per transaction (admin_reverse); the
changelists export what they show as CSV (admin_export)."""

import re
import uuid

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Q, Subquery
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ledger_project.admin_display import admin_link, money_display, short_id
from ledger_project.db_router import ReplicaChangelistMixin

from .admin_export import entries_csv_rows, export_response, transactions_csv_rows
from .admin_reverse import transaction_reverse_view
from .models import LedgerEntry, Transaction

Status = Transaction.Status
HEX_PREFIX = re.compile(r"\A[0-9a-f]{1,32}\Z")


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is append-only: operators look, they never add, edit or delete."""

    # One COUNT per page, not two: the unfiltered total of a large ledger is a second full scan.
    show_full_result_count = False

    class Media:
        css = {"all": ["transactions/admin_lists.css"]}

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def transaction_link(pk, text: str | None = None) -> str:
    """A link to a transaction's admin page from its id alone, so that a list costs no query."""
    if pk is None:
        return "-"
    url = reverse("admin:transactions_transaction_change", args=[pk])
    return format_html('<a href="{}" title="{}">{}</a>', url, pk, text or short_id(pk))


def account_with_owner(account) -> str:
    """For a detail page: the account's full id, linked, and its owner's email."""
    return format_html("{} {}", admin_link(account, str(account.pk)), account.owner.email)


def account_short(account) -> str:
    """For a list: the account's short id, linked; its full id and owner's email show on hover,
    so the column stays one short line (search finds owners by email)."""
    url = reverse("admin:accounts_account_change", args=[account.pk])
    return format_html(
        '<a href="{}" title="{} · {}">{}</a>', url, account.pk, account.owner.email, short_id(account.pk)
    )


def compact_time(value) -> str:
    """A list's timestamp on one short line, to the minute in the admin's time zone."""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"


def uuid_prefix_q(term: str, *fields: str) -> Q | None:
    """Rows whose UUID in one of `fields` starts with `term` (the short id a list shows, or a
    whole id): a range on the UUID, so each field's index answers it, not a text scan."""
    digits = term.strip().lower().replace("-", "")
    if not HEX_PREFIX.match(digits):
        return None
    low, high = uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))
    query = Q()
    for field in fields:
        query |= Q(**{f"{field}__gte": low, f"{field}__lte": high})
    return query


class IdPrefixSearchMixin:
    """Django's search (owner emails and names) or'ed with an id prefix search on `id_prefix_fields`."""

    id_prefix_fields: tuple[str, ...] = ()

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        by_id = uuid_prefix_q(search_term, *self.id_prefix_fields)
        if by_id is not None:
            results = results | queryset.filter(by_id)
        return results, may_have_duplicates


class ExportCsvMixin:
    """An "Export CSV" button on the changelist: what the list shows (filters, search, date),
    every page of it, streamed. `csv_rows(queryset)` yields the header, then one row per object."""

    csv_name = ""
    csv_rows = staticmethod(lambda queryset: iter(()))

    def get_urls(self):
        opts = self.model._meta
        export = path(
            "export/",
            self.admin_site.admin_view(self.export_view),
            name=f"{opts.app_label}_{opts.model_name}_export",
        )
        return [export, *super().get_urls()]

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            # What the changelist itself does with a filter it cannot apply: the list, flagged.
            opts = self.model._meta
            return redirect(f"{reverse(f'admin:{opts.app_label}_{opts.model_name}_changelist')}?{ERROR_FLAG}=1")
        return export_response(self.csv_name, self.csv_rows(changelist.get_queryset(request)))


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    fields = ["entry", "account_display", "type", "amount_display", "balance_after_display", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account__owner").order_by("id")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="entry")
    def entry(self, obj):
        return admin_link(obj)

    @admin.display(description="account")
    def account_display(self, obj):
        # The detail page has room for the owner beside the short id.
        return format_html("{} {}", account_short(obj.account), obj.account.owner.email)

    @admin.display(description="amount")
    def amount_display(self, obj):
        return money_display(obj.amount, obj.account.currency)

    @admin.display(description="balance after")
    def balance_after_display(self, obj):
        return money_display(obj.balance_after, obj.account.currency)


@admin.register(Transaction)
class TransactionAdmin(ReplicaChangelistMixin, ExportCsvMixin, IdPrefixSearchMixin, ReadOnlyAdmin):
    list_display = [
        "short_id_display",
        "created_display",
        "kind",
        "status",
        "amount_display",
        "from_display",
        "to_display",
        "note_display",
    ]
    list_filter = ["kind", "status", "currency"]
    # Owners by email or name; ids (the transaction's or either account's) by prefix, see
    # IdPrefixSearchMixin; an idempotency key exactly.
    search_fields = [
        "from_account__owner__email",
        "to_account__owner__email",
        "from_account__owner__name",
        "to_account__owner__name",
        "=idempotency__key",
    ]
    search_help_text = "An owner's email or name, a transaction or account id (or its first characters), a key."
    id_prefix_fields = ("id", "from_account_id", "to_account_id")
    ordering = ["-created_at", "-id"]
    date_hierarchy = "created_at"
    fields = [
        "id",
        "kind",
        "status",
        "amount_display",
        "from_account_display",
        "to_account_display",
        "failure_reason",
        "reverses_display",
        "reversals_display",
        "hold_display",
        "reason",
        "initiator_display",
        "idempotency_key",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    inlines = [LedgerEntryInline]
    actions = ["reverse_selected"]
    csv_name = "transactions"
    csv_rows = staticmethod(transactions_csv_rows)

    def get_queryset(self, request):
        # Every account and owner a row shows comes in the same query (list and detail), and so
        # does the id of the completed reversal of a REVERSED transaction (one index probe each).
        completed_reversal = Transaction.objects.filter(reverses=OuterRef("pk"), status=Status.COMPLETED)
        return (
            super()
            .get_queryset(request)
            .select_related("from_account__owner", "to_account__owner", "idempotency", "initiator")
            .annotate(completed_reversal_id=Subquery(completed_reversal.values("id")[:1]))
        )

    def get_urls(self):
        reverse_page = path(
            "<path:object_id>/reverse/",
            self.admin_site.admin_view(self.reverse_view),
            name="transactions_transaction_reverse",
        )
        return [reverse_page, *super().get_urls()]

    def reverse_view(self, request, object_id):
        return transaction_reverse_view(self, request, object_id)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_reverse": request.user.is_system}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.is_system:
            actions.pop("reverse_selected", None)
        return actions

    @admin.action(description="Reverse the selected transaction (one, on a confirmation page)")
    def reverse_selected(self, request, queryset):
        # One at a time: each reversal is confirmed on its own page with its own reason, and a
        # request never holds a page of ledger writes.
        selected = list(queryset.values_list("id", flat=True)[:2])
        if len(selected) != 1:
            self.message_user(request, "Select exactly one transaction to reverse.", messages.ERROR)
            return None
        return redirect("admin:transactions_transaction_reverse", selected[0])

    @admin.display(description="id", ordering="id")
    def short_id_display(self, obj):
        return short_id(obj.pk)

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj):
        return money_display(obj.amount, obj.currency)

    @admin.display(description="from")
    def from_display(self, obj):
        return account_short(obj.from_account)

    @admin.display(description="to")
    def to_display(self, obj):
        return account_short(obj.to_account)

    @admin.display(description="note")
    def note_display(self, obj):
        """Why it failed; or, beside its kind or status, the reversal it is (of) or has (by)."""
        if obj.failure_reason:
            return obj.failure_reason
        if obj.reverses_id:
            return format_html("of {}", transaction_link(obj.reverses_id))
        if obj.completed_reversal_id:
            return format_html("by {}", transaction_link(obj.completed_reversal_id))
        return ""

    @admin.display(description="created at", ordering="created_at")
    def created_display(self, obj):
        return compact_time(obj.created_at)

    @admin.display(description="from account (debited)")
    def from_account_display(self, obj):
        return account_with_owner(obj.from_account)

    @admin.display(description="to account (credited)")
    def to_account_display(self, obj):
        return account_with_owner(obj.to_account)

    @admin.display(description="reverses")
    def reverses_display(self, obj):
        return transaction_link(obj.reverses_id, str(obj.reverses_id)) if obj.reverses_id else "-"

    @admin.display(description="captures hold")
    def hold_display(self, obj):
        if not obj.hold_id:
            return "-"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:transactions_hold_change", args=[obj.hold_id]), obj.hold_id
        )

    @admin.display(description="reversal attempts")
    def reversals_display(self, obj):
        attempts = obj.reversals.order_by("created_at").values_list("id", "status", "failure_reason")
        if not attempts:
            return "-"
        return format_html_join(
            mark_safe("<br>"),
            "{} {} {}",
            ((transaction_link(pk, str(pk)), status, reason) for pk, status, reason in attempts),
        )

    @admin.display(description="initiator")
    def initiator_display(self, obj):
        return admin_link(obj.initiator, obj.initiator.email)

    @admin.display(description="idempotency key")
    def idempotency_key(self, obj):
        # A batch item's key is its batch's.
        return obj.idempotency.key if obj.idempotency_id else f"(batch {obj.batch_id})"


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReplicaChangelistMixin, ExportCsvMixin, IdPrefixSearchMixin, ReadOnlyAdmin):
    list_display = [
        "short_id_display",
        "created_display",
        "transaction_display",
        "account_display",
        "type",
        "amount_display",
        "balance_after_display",
    ]
    list_filter = ["type", "account__currency"]
    search_fields = ["account__owner__email", "account__owner__name"]
    search_help_text = "An owner's email or name, or a transaction or account id (or its first characters)."
    id_prefix_fields = ("transaction_id", "account_id")
    list_select_related = ["account__owner"]
    ordering = ["-created_at", "-id"]
    date_hierarchy = "created_at"
    fields = [
        "id",
        "transaction_full",
        "account_full",
        "type",
        "amount_display",
        "balance_after_display",
        "created_at",
    ]
    readonly_fields = fields
    csv_name = "ledger-entries"
    csv_rows = staticmethod(entries_csv_rows)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account__owner")

    @admin.display(description="id", ordering="id")
    def short_id_display(self, obj):
        return obj.pk

    @admin.display(description="created at", ordering="created_at")
    def created_display(self, obj):
        return compact_time(obj.created_at)

    @admin.display(description="transaction")
    def transaction_display(self, obj):
        return transaction_link(obj.transaction_id)

    @admin.display(description="account")
    def account_display(self, obj):
        return account_short(obj.account)

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj):
        return money_display(obj.amount, obj.account.currency)

    @admin.display(description="balance after")
    def balance_after_display(self, obj):
        return money_display(obj.balance_after, obj.account.currency)

    @admin.display(description="transaction")
    def transaction_full(self, obj):
        return transaction_link(obj.transaction_id, str(obj.transaction_id))

    @admin.display(description="account")
    def account_full(self, obj):
        return account_with_owner(obj.account)


from . import admin_holds  # noqa: E402, F401  (registers HoldAdmin; its own file, see admin_holds.py)
