from django.contrib import admin, messages

from ledger_project.exceptions import ApplicationError, error_text

from .models import Account
from .money import format_minor
from .services import account_close, account_freeze, account_unfreeze


def _status_action(service, description, done):
    def action(modeladmin, request, queryset):
        for account in queryset:
            try:
                service(account_id=account.id)
            except ApplicationError as exc:
                modeladmin.message_user(request, f"{account.id}: {error_text(exc)}", messages.ERROR)
            else:
                modeladmin.message_user(request, f"{account.id}: {done}.", messages.SUCCESS)

    action.__name__ = f"{service.__name__}_action"
    return admin.action(description=description)(action)


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    """Status changes go through the services (row lock, zero-balance rule), never a form save."""

    list_display = ["id", "owner", "currency", "status", "balance_display", "is_system", "created_at"]
    list_filter = ["status", "currency", "is_system"]
    search_fields = ["id", "owner__email"]
    list_select_related = ["owner"]
    readonly_fields = ["id", "owner", "currency", "status", "balance_display", "is_system", "created_at", "updated_at"]
    exclude = ["balance"]
    actions = [
        _status_action(account_freeze, "Freeze selected accounts", "frozen"),
        _status_action(account_unfreeze, "Unfreeze selected accounts", "unfrozen"),
        _status_action(account_close, "Close selected accounts (zero balance only)", "closed"),
    ]

    @admin.display(description="balance")
    def balance_display(self, obj):
        return f"{format_minor(obj.balance, obj.currency)} {obj.currency}"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
