"""The admin's user forms: an email is read exactly as registration reads it (normalize_email),
and a taken address is a form error, not the database's unique constraint."""

from django import forms
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError

from .exceptions import EmailTakenError
from .models import User, normalize_email

EMAIL_MAX_LENGTH = User._meta.get_field("email").max_length


def canonical_email_field():
    # Not Django's EmailField: its ASCII-only rule refuses addresses the API registers
    # (müller@example.com), so such a user could not even be edited here.
    return forms.CharField(label="Email", max_length=EMAIL_MAX_LENGTH)


class CanonicalEmailMixin:
    def clean_email(self):
        email = normalize_email(self.cleaned_data["email"])
        if User.objects.filter(email=email).exclude(pk=self.instance.pk).exists():
            raise ValidationError(EmailTakenError.message, code=EmailTakenError.code)
        return email

    def _get_validation_exclusions(self):
        # clean_email already applied normalize_email, the rule that is stricter than the model
        # field's validator where it matters and looser where the API is (a non-ASCII local part).
        return {*super()._get_validation_exclusions(), "email"}


class UserAdminCreationForm(CanonicalEmailMixin, AdminUserCreationForm):
    email = canonical_email_field()

    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ["email", "name"]
        field_classes = {}


class UserAdminChangeForm(CanonicalEmailMixin, UserChangeForm):
    email = canonical_email_field()

    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"
        field_classes = {}
