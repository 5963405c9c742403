"""The outbox in the admin: read-only (an email's record is evidence of what a customer was told),
never deleted, with "send again" for the rows not sent yet."""

import re

from django.contrib import admin, messages
from django.utils.html import format_html

from ledger_project.admin_display import ReadOnlyAdmin
from ledger_project.db_router import ReplicaChangelistMixin
from transactions.admin import compact_time, transaction_link

from .models import OutboxEmail
from .services import outbox_body, outbox_emails_requeue

# Ledger emails name their transaction in the body (notifications.emails.EMAIL_BODY); the row has
# no foreign key to it, so the admin links the id it finds there.
TRANSACTION_IN_BODY = re.compile(r"^Transaction: ([0-9a-f-]{36})$", re.MULTILINE)


def outbox_transaction_id(row: OutboxEmail) -> str | None:
    match = TRANSACTION_IN_BODY.search(row.body)
    return match.group(1) if match else None


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
class OutboxEmailAdmin(ReplicaChangelistMixin, ReadOnlyAdmin):
    list_display = [
        "id",
        "created_display",
        "to_display",
        "subject_display",
        "status",
        "tries",
        "transaction_display",
    ]
    list_filter = [OutboxStatusFilter]
    search_fields = ["to", "subject"]
    ordering = ["-created_at", "-id"]
    date_hierarchy = "created_at"
    fields = [
        "id",
        "to",
        "subject",
        "status",
        "transaction_full",
        "body_text",
        "attempts",
        "last_error",
        "created_at",
        "next_attempt_at",
        "sent_at",
        "failed_at",
    ]
    readonly_fields = fields
    actions = ["send_again"]

    class Media:
        css = {"all": ["transactions/admin_lists.css"]}

    def has_resend_permission(self, request):
        # The change permission, asked of the user directly: has_change_permission is False so
        # that no form ever edits a row.
        return request.user.has_perm("notifications.change_outboxemail")

    @admin.action(description="Send again (emails not sent yet)", permissions=["resend"])
    def send_again(self, request, queryset):
        rows = dict(queryset.values_list("id", "sent_at"))
        sent = sorted(pk for pk, sent_at in rows.items() if sent_at)
        unsent = [pk for pk, sent_at in rows.items() if not sent_at]
        queued = sorted(outbox_emails_requeue(outbox_ids=unsent))
        busy = sorted(set(unsent) - set(queued))
        if sent:
            self.message_user(request, f"Not sent again, already sent: {_ids(sent)}.", messages.ERROR)
        if busy:
            self.message_user(request, f"Being sent right now, left alone: {_ids(busy)}.", messages.WARNING)
        if queued:
            self.message_user(request, f"Queued to send again within seconds: {_ids(queued)}.", messages.SUCCESS)

    @admin.display(description="created at", ordering="created_at")
    def created_display(self, obj):
        return compact_time(obj.created_at)

    @admin.display(description="to", ordering="to")
    def to_display(self, obj):
        return _cut(obj.to)

    @admin.display(description="subject")
    def subject_display(self, obj):
        return _cut(obj.subject, wide=True)

    @admin.display(description="tries", ordering="attempts")
    def tries(self, obj):
        return obj.attempts

    @admin.display(description="transaction")
    def transaction_display(self, obj):
        return transaction_link(outbox_transaction_id(obj))

    @admin.display(description="body")
    def body_text(self, obj):
        # A batch summary not sent yet has no body on its row: shown as it will be written.
        return outbox_body(obj)

    @admin.display(description="transaction")
    def transaction_full(self, obj):
        transaction_id = outbox_transaction_id(obj)
        return transaction_link(transaction_id, transaction_id)


def _cut(text: str, *, wide: bool = False) -> str:
    """Text cut short in its cell (transactions/admin_lists.css); the whole of it on hover."""
    css = "ledger-cut ledger-cut-wide" if wide else "ledger-cut"
    return format_html('<span class="{}" title="{}">{}</span>', css, text, text)


def _ids(ids) -> str:
    return ", ".join(f"#{pk}" for pk in ids)
