"""Webhook endpoints and deliveries in the admin: read-only, and never a secret (not even
encrypted: the fields are not listed, so no page or export can show them)."""

from django.contrib import admin

from ledger_project.admin_display import ReadOnlyAdmin, admin_link, short_id

from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["short_id", "user", "url", "events", "enabled", "disabled_reason", "created_at"]
    list_filter = ["enabled", "disabled_reason"]
    search_fields = ["url", "user__email"]
    list_select_related = ["user"]
    ordering = ["-created_at"]
    fields = [
        "id",
        "user",
        "url",
        "events",
        "description",
        "enabled",
        "disabled_reason",
        "disabled_at",
        "failing_since",
        "previous_secret_expires_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.display(description="id")
    def short_id(self, obj):
        return short_id(obj.pk)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fk_name = "delivery"
    fields = ["attempted_at", "status_code", "duration_ms", "error", "response_body"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-attempted_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "endpoint_display",
        "message_id",
        "trigger",
        "status",
        "attempts",
        "next_attempt_at",
    ]
    list_filter = ["status", "trigger"]
    search_fields = ["message_id", "endpoint__url"]
    list_select_related = ["endpoint"]
    ordering = ["-created_at", "-id"]
    date_hierarchy = "created_at"
    fields = [
        "id",
        "endpoint_display",
        "event",
        "message_id",
        "trigger",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "delivered_at",
        "failed_at",
        "last_error",
    ]
    readonly_fields = fields
    inlines = [WebhookAttemptInline]

    @admin.display(description="endpoint")
    def endpoint_display(self, obj):
        return admin_link(obj.endpoint, obj.endpoint.url)
