"""The account page's "Set limits" view: operators change an account's limits with a reason.

A page of its own rather than the change form (which is view-only: a form save would write back
the balance it read). The change goes through `account_limits_set` (the account's row lock, the
same validation as the API), which logs it in the account's admin history with who, when, what
changed from what, and why, in the same database transaction.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from ledger_project.admin_actions import ActionReasonForm
from ledger_project.exceptions import ApplicationError, error_text

from .limits import COUNT_LIMITS, limits_change_message, limits_json
from .models import LIMIT_FIELDS, Account
from .services import account_limits_set


class AccountLimitsForm(ActionReasonForm):
    """The six limits (blank = none) and the reason. Amounts are text, parsed by the service in
    the account's currency, so the admin and the API accept exactly the same values."""

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        reason = self.fields.pop("reason")
        for column, json_name in LIMIT_FIELDS.items():
            if column in COUNT_LIMITS:
                field = forms.IntegerField(required=False, min_value=0, max_value=2**63 - 1)
            else:
                field = forms.CharField(required=False, max_length=32, help_text=f"In {currency}; blank for none.")
            field.label = json_name
            self.fields[column] = field
        self.fields["reason"] = reason

    def changes(self) -> dict:
        return {
            column: (self.cleaned_data[column] if self.cleaned_data[column] not in ("", None) else None)
            for column in LIMIT_FIELDS
        }


def account_limits_view(modeladmin, request, object_id):
    if not modeladmin.has_change_permission(request):
        raise PermissionDenied
    account = Account.objects.filter(pk=object_id, is_system=False).first() if _is_uuid(object_id) else None
    if account is None:
        raise Http404("No such customer account.")
    form = AccountLimitsForm(
        request.POST if request.method == "POST" else None,
        currency=account.currency,
        initial={column: limits_json(account)[name] for column, name in LIMIT_FIELDS.items()},
    )
    if request.method == "POST" and form.is_valid():
        reason = form.cleaned_data["reason"]
        try:
            account, changed = account_limits_set(
                account_id=account.id, changes=form.changes(), actor=request.user, reason=reason
            )
        except ApplicationError as exc:
            columns = {name: column for column, name in LIMIT_FIELDS.items()}
            for name, problems in (exc.errors or {}).items():
                form.add_error(columns.get(name), problems)
            if not exc.errors:
                form.add_error(None, error_text(exc))
        else:
            note = limits_change_message(account, changed, reason) if changed else "No limit changed."
            modeladmin.message_user(request, note, messages.SUCCESS if changed else messages.WARNING)
            return HttpResponseRedirect(reverse("admin:accounts_account_change", args=[account.pk]))
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"Set limits of {modeladmin.object_label(account)}",
        "opts": Account._meta,
        "original": account,
        "form": form,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/accounts/account_limits.html", context)


def _is_uuid(value) -> bool:
    try:
        Account._meta.pk.to_python(value)
    except ValidationError:
        return False
    return True
