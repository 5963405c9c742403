"""How the admin shows money and ids: money as the API shows it, ids short in lists and linked."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from accounts.money import format_minor

SHORT_ID_LENGTH = 8


def money_display(minor: int | None, currency: str) -> str:
    """Minor units as the API shows them, with the currency: "99999.00 INR" for 9999900 paise."""
    if minor is None:
        return "-"
    return f"{format_minor(minor, currency)} {currency}"


def short_id(pk) -> str:
    """The first characters of a UUID: enough to tell rows apart on a page, one line wide."""
    return str(pk)[:SHORT_ID_LENGTH]


def admin_link(obj, text: str | None = None) -> str:
    """A link to obj's change page in the admin, labelled with its short id unless told otherwise."""
    if obj is None:
        return "-"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}" title="{}">{}</a>', url, obj.pk, text or short_id(obj.pk))


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record that operators read and never add, edit or delete by hand (the outbox, events,
    webhook deliveries); a large table's pages do not count it."""

    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
