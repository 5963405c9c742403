"""Holds in the admin: read-only, linked to their accounts and their capture's transaction, with
a "void" action for operators who are system users (through `hold_void`, as the API)."""

import uuid

from django.contrib import admin, messages

from ledger_project.admin_display import admin_link, money_display, short_id
from ledger_project.db_router import ReplicaChangelistMixin
from ledger_project.exceptions import ApplicationError, error_text

from .holds import hold_void
from .models import Hold


@admin.register(Hold)
class HoldAdmin(ReplicaChangelistMixin, admin.ModelAdmin):
    list_display = [
        "short",
        "status",
        "amount_display",
        "captured_display",
        "from_link",
        "to_link",
        "capture_link",
        "expires_at",
        "created_at",
    ]
    list_filter = ["status", "currency"]
    search_fields = ["id", "from_account__id", "to_account__id", "idempotency__key"]
    list_select_related = ["from_account", "to_account", "capture"]
    fields = [
        "id",
        "status",
        "amount_display",
        "captured_display",
        "from_link",
        "to_link",
        "capture_link",
        "expires_at",
        "failure_reason",
        "initiator",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    actions = ["void_selected"]

    # Holds change only through the services: operators look, and system users may void.
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not getattr(request.user, "is_system", False):
            actions.pop("void_selected", None)
        return actions

    @admin.display(description="id", ordering="id")
    def short(self, obj):
        return short_id(obj.pk)

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj):
        return money_display(obj.amount, obj.currency)

    @admin.display(description="captured")
    def captured_display(self, obj):
        return money_display(obj.captured_amount, obj.currency)

    @admin.display(description="from")
    def from_link(self, obj):
        return admin_link(obj.from_account)

    @admin.display(description="to")
    def to_link(self, obj):
        return admin_link(obj.to_account)

    @admin.display(description="capture")
    def capture_link(self, obj):
        return admin_link(getattr(obj, "capture", None))

    @admin.action(description="Void selected holds (you must be a system user)")
    def void_selected(self, request, queryset):
        if not getattr(request.user, "is_system", False):
            self.message_user(request, "Only system users may void holds.", messages.ERROR)
            return
        for hold in queryset:
            try:
                # A fresh key: an operator's second click is a new request, answered 409 if done.
                hold_void(initiator=request.user, hold_id=hold.id, idempotency_key=f"admin-void:{uuid.uuid4()}")
            except ApplicationError as exc:
                self.message_user(request, f"{hold.id}: {error_text(exc)}", messages.ERROR)
                continue
            self.message_user(request, f"{hold.id}: voided.", messages.SUCCESS)
