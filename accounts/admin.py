from django.contrib import admin
from django.urls import path, reverse
from django.utils.html import format_html

from ledger_project.admin_actions import OperatorInputMixin, reason_action
from ledger_project.admin_display import admin_link, money_display, short_id
from ledger_project.db_router import ReplicaChangelistMixin

from .admin_limits import account_limits_view
from .limits import limits_json
from .models import Account
from .services import account_close, account_freeze, account_unfreeze

# The changelists the account links to, filtered to it: entries by the account's id (a filter the
# entries admin accepts), transactions by a search for it (the transactions admin searches ids).
ENTRIES_OF_ACCOUNT = "{url}?account__id__exact={id}"
TRANSACTIONS_OF_ACCOUNT = "{url}?q={id}"
LIST_STYLES = ["accounts/changelist.css"]


@admin.register(Account)
class AccountAdmin(ReplicaChangelistMixin, OperatorInputMixin, admin.ModelAdmin):
    """Read-only but for the status actions, which go through the services (row lock, zero-balance
    rule) and leave a reason in the account's history. No form ever saves an account: a save would
    write back the balance it read, over any transfer since."""

    list_display = ["short_id", "owner_link", "currency", "status", "balance_display", "is_system", "created_at"]
    list_display_links = ["short_id"]
    list_filter = ["status", "currency", "is_system"]
    search_fields = ["id", "owner__email"]
    list_select_related = ["owner"]
    ordering = ["-created_at"]
    date_hierarchy = "created_at"
    fields = [
        "id",
        "owner_link",
        "currency",
        "status",
        "balance_display",
        "is_system",
        "entries_link",
        "transactions_link",
        "holds_link",
        "limits_display",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    actions = [
        reason_action(
            name="account_freeze_action",
            service=lambda account: account_freeze(account_id=account.id),
            description="Freeze selected accounts",
            done="Frozen",
        ),
        reason_action(
            name="account_unfreeze_action",
            service=lambda account: account_unfreeze(account_id=account.id),
            description="Unfreeze selected accounts",
            done="Unfrozen",
        ),
        reason_action(
            name="account_close_action",
            service=lambda account: account_close(account_id=account.id),
            description="Close selected accounts (zero balance only)",
            done="Closed",
            note="Closing is final, and only an account with a zero balance closes.",
        ),
    ]

    class Media:
        css = {"all": LIST_STYLES}

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("owner")

    def object_label(self, obj):
        """How messages and confirmation pages name an account: enough to be sure it is the one."""
        return f"{short_id(obj.pk)} · {obj.owner.email} · {money_display(obj.balance, obj.currency)} · {obj.status}"

    @admin.display(description="id", ordering="id")
    def short_id(self, obj):
        return format_html('<span title="{}">{}</span>', obj.pk, short_id(obj.pk))

    @admin.display(description="owner", ordering="owner__email")
    def owner_link(self, obj):
        return admin_link(obj.owner, obj.owner.email)

    @admin.display(description="balance", ordering="balance")
    def balance_display(self, obj):
        return money_display(obj.balance, obj.currency)

    @admin.display(description="ledger entries")
    def entries_link(self, obj):
        url = ENTRIES_OF_ACCOUNT.format(url=reverse("admin:transactions_ledgerentry_changelist"), id=obj.pk)
        return format_html('<a href="{}">Entries of this account</a>', url)

    @admin.display(description="transactions")
    def transactions_link(self, obj):
        url = TRANSACTIONS_OF_ACCOUNT.format(url=reverse("admin:transactions_transaction_changelist"), id=obj.pk)
        return format_html('<a href="{}">Transactions of this account</a>', url)

    @admin.display(description="holds")
    def holds_link(self, obj):
        url = reverse("admin:transactions_hold_changelist")
        return format_html('<a href="{}?q={}">Holds on this account</a>', url, obj.pk)

    @admin.display(description="limits")
    def limits_display(self, obj):
        if obj.is_system:
            return "none (funding account)"
        shown = ", ".join(f"{name} {value}" for name, value in limits_json(obj).items() if value is not None)
        url = reverse("admin:accounts_account_limits", args=[obj.pk])
        return format_html('{} · <a href="{}">Set limits</a>', shown or "none", url)

    def get_urls(self):
        view = self.admin_site.admin_view(lambda request, object_id: account_limits_view(self, request, object_id))
        return [path("<path:object_id>/limits/", view, name="accounts_account_limits"), *super().get_urls()]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # The actions need the permission (obj None); the change page is view-only.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False
