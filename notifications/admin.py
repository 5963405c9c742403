from django.contrib import admin

from .models import OutboxEmail


class OutboxStatusFilter(admin.SimpleListFilter):
    """Pending, sent or failed: failed rows are the dead letters an operator looks at."""

    title = "status"
    parameter_name = "status"
    lookups_by_status = {
        "pending": {"sent_at__isnull": True, "failed_at__isnull": True},
        "sent": {"sent_at__isnull": False},
        "failed": {"failed_at__isnull": False},
    }

    def lookups(self, request, model_admin):
        return [(status, status.capitalize()) for status in self.lookups_by_status]

    def queryset(self, request, queryset):
        lookup = self.lookups_by_status.get(self.value())
        return queryset.filter(**lookup) if lookup else queryset


@admin.register(OutboxEmail)
class OutboxEmailAdmin(admin.ModelAdmin):
    list_display = ["id", "to", "subject", "status", "attempts", "created_at", "sent_at", "failed_at"]
    list_filter = [OutboxStatusFilter]
    search_fields = ["to", "subject"]
    readonly_fields = [f.name for f in OutboxEmail._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
