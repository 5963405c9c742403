"""Events in the admin: read-only (an event is the record of what a user was told), never edited or
deleted by hand; only the retention purge removes them."""

import json

from django.contrib import admin
from django.utils.html import format_html

from ledger_project.admin_display import ReadOnlyAdmin
from transactions.admin import compact_time

from .models import Event


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_display", "type", "user", "webhooks_pending"]
    list_filter = ["type", "webhooks_pending"]
    list_select_related = ["user"]
    search_fields = ["user__email", "=id"]
    ordering = ["-created_at", "-id"]
    date_hierarchy = "created_at"
    fields = ["id", "type", "user", "created_at", "webhooks_pending", "data_display"]
    readonly_fields = fields

    @admin.display(description="created at", ordering="created_at")
    def created_display(self, obj):
        return compact_time(obj.created_at)

    @admin.display(description="data")
    def data_display(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2))
