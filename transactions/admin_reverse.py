"""Reversal in the admin: one transaction at a time, on a page that shows what will move and asks
why, confirmed with a POST.

The idempotency key is `admin-reverse:<transaction id>:<nonce>`, the nonce a UUID drawn when the
page is loaded and carried in its form. The same form posted twice (a double click, a resubmitted
page) replays its one outcome; a page loaded again after a decline draws a new key, so the
reversal can be retried once the money is there. A completed reversal cannot happen twice
whatever the key: the service refuses an original that is already REVERSED.
"""

import uuid

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import Account
from ledger_project.admin_display import admin_link, money_display
from ledger_project.exceptions import ApplicationError, error_text

from .exceptions import DECLINES, AlreadyReversedError, NotReversibleError
from .models import Transaction
from .services import transaction_reverse

Kind, Status = Transaction.Kind, Transaction.Status

ADMIN_REVERSE_KEY = "admin-reverse:{transaction_id}:{nonce}"
NOT_FOUND_MESSAGE = "No transaction with the id “{object_id}”."
NOT_SYSTEM_USER_MESSAGE = "Only system users may reverse transactions; nothing was changed."
EXPIRED_FORM_MESSAGE = "That confirmation form was incomplete or altered; nothing was changed. Confirm again below."
REASON_HELP = "Why the money goes back. Stored on the reversal, with you as its initiator."


class ReverseForm(forms.Form):
    reason = forms.CharField(
        max_length=Transaction._meta.get_field("reason").max_length,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=REASON_HELP,
        error_messages={"required": "Give the reason for this reversal."},
    )
    nonce = forms.UUIDField(widget=forms.HiddenInput)


def transaction_reverse_view(model_admin, request, object_id):
    """GET: the confirmation page, with a new nonce. POST: reverse through the service, then back
    to the original's page with the outcome."""
    original = _original_or_none(object_id)
    if original is None:
        messages.warning(request, NOT_FOUND_MESSAGE.format(object_id=object_id))
        return redirect("admin:transactions_transaction_changelist")
    if not model_admin.has_view_permission(request, original):
        raise PermissionDenied
    change_url = reverse("admin:transactions_transaction_change", args=[original.pk])
    if not request.user.is_system:
        messages.error(request, NOT_SYSTEM_USER_MESSAGE)
        return redirect(change_url)

    if request.method == "POST":
        form = ReverseForm(request.POST)
        if form.is_valid():
            # No status check first: a second post of the same form must reach the service to replay.
            return _reverse(model_admin, request, original, change_url, **form.cleaned_data)
        if "nonce" in form.errors:
            messages.error(request, EXPIRED_FORM_MESSAGE)
            return redirect("admin:transactions_transaction_reverse", original.pk)
    else:
        refusal = _refusal(original)
        if refusal:
            messages.error(request, refusal)
            return redirect(change_url)
        form = ReverseForm(initial={"nonce": uuid.uuid4()})

    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Transaction._meta,
        "title": "Reverse this transaction?",
        "original": original,
        "form": form,
        "amount": money_display(original.amount, original.currency),
        # The reversal debits the original's receiver and credits its sender.
        "sides": [
            _side("Debited (the original receiver)", original.to_account, -original.amount),
            _side("Credited (the original sender)", original.from_account, original.amount),
        ],
        "change_url": change_url,
    }
    return TemplateResponse(request, "admin/transactions/transaction/reverse_confirmation.html", context)


def _original_or_none(object_id) -> Transaction | None:
    try:
        pk = uuid.UUID(str(object_id))
    except ValueError:
        return None
    return Transaction.objects.select_related("from_account__owner", "to_account__owner").filter(pk=pk).first()


def _refusal(original: Transaction) -> str:
    """Why the page is not offered (the service checks again, under the row lock)."""
    if original.status == Status.REVERSED:
        return AlreadyReversedError.message
    if original.status != Status.COMPLETED or original.kind == Kind.REVERSAL:
        return NotReversibleError.message
    return ""


def _side(label: str, account: Account, change: int) -> dict:
    after = account.balance + change
    if account.status == Account.Status.CLOSED:
        warning = "This account is closed: the reversal will be declined."
    elif after < 0 and not account.is_system:
        warning = "The balance does not cover it: the reversal will be declined unless money arrives first."
    else:
        warning = ""
    return {
        "label": label,
        "account": admin_link(account, str(account.pk)),
        "owner": account.owner.email,
        "status": account.status,
        "balance": money_display(account.balance, account.currency),
        "after": money_display(after, account.currency),
        "warning": warning,
    }


def _reverse(model_admin, request, original, change_url, *, reason, nonce):
    key = ADMIN_REVERSE_KEY.format(transaction_id=original.pk, nonce=nonce)
    try:
        result = transaction_reverse(
            initiator=request.user, transaction_id=original.pk, idempotency_key=key, reason=reason
        )
    except ApplicationError as exc:
        messages.error(request, error_text(exc))
        return redirect(change_url)

    reversal = result.transaction
    link = admin_link(reversal, str(reversal.pk))
    replayed = " This form had been submitted already: nothing more was done." if result.replayed else ""
    if reversal.status == Status.FAILED:
        declined_by = DECLINES.get(reversal.failure_reason)
        decline = declined_by.message if declined_by else f"{reversal.failure_reason}."
        messages.error(
            request,
            format_html(
                "Reversal declined: {} Nothing moved; the attempt is recorded as {}. "
                "Open the confirmation page again to retry.{}",
                decline,
                link,
                replayed,
            ),
        )
    else:
        amount = money_display(reversal.amount, reversal.currency)
        messages.success(request, format_html("Reversed: {} moved back by {}.{}", amount, link, replayed))
    if not result.replayed:
        outcome = "declined" if reversal.status == Status.FAILED else "reversed"
        model_admin.log_change(request, original, f"Reversal {reversal.pk} {outcome}. Reason: {reason}")
    return redirect(change_url)
