from django.contrib import admin, messages

from accounts.money import format_minor
from ledger_project.exceptions import ApplicationError, error_text

from .models import LedgerEntry, Transaction
from .services import transaction_reverse


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is append-only: operators look, they never add, edit or delete."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    fields = ["account", "type", "amount", "balance_after", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "kind",
        "status",
        "amount_display",
        "from_account",
        "to_account",
        "failure_reason",
        "created_at",
    ]
    list_filter = ["kind", "status", "currency"]
    search_fields = ["id", "from_account__id", "to_account__id", "idempotency__key"]
    list_select_related = ["idempotency"]
    inlines = [LedgerEntryInline]
    actions = ["reverse_selected"]

    @admin.display(description="amount")
    def amount_display(self, obj):
        return f"{format_minor(obj.amount, obj.currency)} {obj.currency}"

    @admin.action(description="Reverse selected transactions (you must be a system user)")
    def reverse_selected(self, request, queryset):
        for txn in queryset:
            try:
                # A fixed key per original: running the action twice replays instead of failing.
                result = transaction_reverse(
                    initiator=request.user,
                    transaction_id=txn.id,
                    idempotency_key=f"admin-reverse:{txn.id}",
                    reason=f"Reversed in the admin by {request.user.email}",
                )
            except ApplicationError as exc:
                self.message_user(request, f"{txn.id}: {error_text(exc)}", messages.ERROR)
                continue
            reversal = result.transaction
            if reversal.failure_reason:
                self.message_user(request, f"{txn.id}: reversal declined ({reversal.failure_reason}).", messages.ERROR)
            else:
                self.message_user(request, f"{txn.id}: reversed by {reversal.id}.", messages.SUCCESS)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "transaction", "account", "type", "amount", "balance_after", "created_at"]
    list_filter = ["type"]
    search_fields = ["account__id", "transaction__id"]


from . import admin_holds  # noqa: E402, F401  (registers HoldAdmin; its own file, see admin_holds.py)
