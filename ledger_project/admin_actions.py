"""Operator actions with a trail, and an admin that answers an operator's bad input in words.

An action that changes a money object (freeze an account, deactivate a user) first asks why, on a
page of its own, like Django's delete confirmation; the change and an admin log entry (LogEntry:
who, what, when, and the reason) are then written in one database transaction, so the object's
History page tells the whole story and a failed change leaves no entry behind.

The confirmation page is the template `admin/action_reason.html` (in accounts/templates, the
first app to use it; templates are found by name from any app).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.response import TemplateResponse

from authn.models import no_control_characters
from ledger_project.exceptions import ApplicationError, error_text

REASON_MAX_LENGTH = 500
# One confirmation lists every object it will change, and the changes run in the request: a
# bound keeps both within a page and well within gunicorn's timeout.
ACTION_MAX_OBJECTS = 100

SELECTION_INVALID = "The selection names an object that does not exist here: nothing was changed."
SELECTION_EMPTY = "None of the selected {name} exist any more: nothing was changed."
SELECTION_TOO_LARGE = "Select at most {limit} {name} at a time: nothing was changed."
FILTER_INVALID = "A filter in the address was not valid and was ignored: the whole list is shown."


class ActionReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        validators=[no_control_characters],
        widget=forms.TextInput(attrs={"size": 80, "autofocus": True}),
        help_text="Kept in each object's history with your name and the time.",
    )


def reason_action(*, name, service, description, done, note=""):
    """The admin action `name`: runs `service(obj)` on each selected object once a reason is given.

    `service` takes the object and returns it changed, or raises an ApplicationError (nothing
    changed, nothing logged, the error shown). `done` is the past tense that starts the log
    message ("Frozen"); `note` is shown on the confirmation page.
    """

    def action(modeladmin, request, queryset):
        opts = modeladmin.model._meta
        objects = list(queryset.order_by("pk")[: ACTION_MAX_OBJECTS + 1])
        if not objects:
            modeladmin.message_user(request, SELECTION_EMPTY.format(name=opts.verbose_name_plural), messages.ERROR)
            return None
        if len(objects) > ACTION_MAX_OBJECTS:
            message = SELECTION_TOO_LARGE.format(limit=ACTION_MAX_OBJECTS, name=opts.verbose_name_plural)
            modeladmin.message_user(request, message, messages.ERROR)
            return None
        form = ActionReasonForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if not form.is_valid():
            return reason_page(modeladmin, request, objects, action_name=action.__name__, form=form, note=note)
        reason = form.cleaned_data["reason"]
        for obj in objects:
            object_action_run(modeladmin, request, obj, service=service, message=f"{done}. Reason: {reason}")
        return None

    action.__name__ = name
    # The model's change permission, as a form save would need.
    return admin.action(description=description, permissions=["change"])(action)


def object_action_run(modeladmin, request, obj, *, service, message) -> bool:
    """Run `service(obj)` and log `message` against obj in one database transaction; report the
    outcome to the operator, naming obj by the admin's `object_label` (its str by default).
    Returns whether it changed."""
    label = getattr(modeladmin, "object_label", str)(obj)
    try:
        with transaction.atomic():
            changed = service(obj)
            modeladmin.log_change(request, changed, message)
    except ApplicationError as exc:
        modeladmin.message_user(request, f"{label}: {error_text(exc)}", messages.ERROR)
        return False
    modeladmin.message_user(request, f"{label}: {message}", messages.SUCCESS)
    return True


def reason_page(modeladmin, request, objects, *, action_name, form, note="", form_url="", title=None):
    """The confirmation page: what will change, a required reason, and the button that does it."""
    opts = modeladmin.model._meta
    action = modeladmin.get_actions(request).get(action_name)
    label = getattr(modeladmin, "object_label", str)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title or (action[2] if action else action_name),
        "opts": opts,
        "objects": [(obj, label(obj)) for obj in objects],
        "action_name": action_name,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "form": form,
        "note": note,
        "form_url": form_url,
        "media": modeladmin.media,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/action_reason.html", context)


class OperatorInputMixin:
    """ModelAdmin behaviour for what an operator's browser may send that Django itself would
    answer with a 500: forged ids in an action's selection, filter values that only fail once
    compiled to SQL. Each becomes a message and no change."""

    def response_action(self, request, queryset):
        pk_field = self.model._meta.pk
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                pk_field.to_python(value)
        except ValidationError:
            self.message_user(request, SELECTION_INVALID, messages.ERROR)
            return None
        return super().response_action(request, queryset)

    def get_changelist_instance(self, request):
        # Django turns filters it cannot parse into IncorrectLookupParameters (a redirect to the
        # unfiltered list), but a value that parses and only fails as SQL is compiled escapes it:
        # `?created_at__year=99999` (a ValueError from the year's bounds).
        try:
            return super().get_changelist_instance(request)
        except (IncorrectLookupParameters, ValidationError, ValueError, OverflowError) as exc:
            self.message_user(request, FILTER_INVALID, messages.WARNING)
            raise IncorrectLookupParameters(exc) from exc
