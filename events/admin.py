"""Events in the admin: read-only (an event is the record of what a user was told), never edited or
deleted by hand; only the retention purge removes them."""

import json

from django.contrib import admin
from django.utils.html import format_html

from transactions.admin import compact_time

from .models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "created_display", "type", "user", "webhooks_pending"]
    list_filter = ["type", "webhooks_pending"]
    list_select_related = ["user"]
    search_fields = ["user__email", "=id"]
    ordering = ["-created_at", "-id"]
    date_hierarchy = "created_at"
    # Counting a large table on every page is what makes an admin list slow.
    show_full_result_count = False
    fields = ["id", "type", "user", "created_at", "webhooks_pending", "data_display"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="created at", ordering="created_at")
    def created_display(self, obj):
        return compact_time(obj.created_at)

    @admin.display(description="data")
    def data_display(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2))
