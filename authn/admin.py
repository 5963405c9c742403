from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.urls import reverse
from django.utils.html import format_html

from ledger_project.admin_actions import ActionReasonForm, OperatorInputMixin, reason_action, reason_page

from .forms import UserAdminChangeForm, UserAdminCreationForm
from .models import User
from .selectors import user_is_kept
from .services import user_deactivate

# The accounts changelist filtered to one owner (a filter on the owner's id the admin accepts).
ACCOUNTS_OF_USER = "{url}?owner__id__exact={id}"
DEACTIVATE_ACTION = "user_deactivate_action"
KEPT_NOTE = (
    "{user} owns accounts, initiated transactions or acted in this admin, so the ledger keeps them: "
    "they are deactivated instead of deleted. They can no longer log in, their tokens and sessions "
    "stop working, and their accounts and history stay."
)


@admin.register(User)
class UserAdmin(OperatorInputMixin, DjangoUserAdmin):
    form = UserAdminChangeForm
    add_form = UserAdminCreationForm
    ordering = ["-date_joined"]
    date_hierarchy = "date_joined"
    list_display = ["email", "name", "is_system", "is_staff", "is_active", "accounts_link", "date_joined"]
    list_filter = ["is_system", "is_staff", "is_active"]
    search_fields = ["email", "name"]
    readonly_fields = ["id", "accounts_link", "date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["id", "email", "password"]}),
        ("Profile", {"fields": ["name", "is_system", "accounts_link"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "name", "password1", "password2"]})]
    actions = [
        reason_action(
            name=DEACTIVATE_ACTION,
            service=lambda user: user_deactivate(user_id=user.id),
            description="Deactivate selected users",
            done="Deactivated",
        )
    ]

    class Media:
        css = {"all": ["accounts/changelist.css"]}

    @admin.display(description="accounts")
    def accounts_link(self, obj):
        url = ACCOUNTS_OF_USER.format(url=reverse("admin:accounts_account_changelist"), id=obj.pk)
        return format_html('<a href="{}">Accounts</a>', url)

    def get_actions(self, request):
        # Deleting in bulk would meet users the ledger keeps; one user at a time, from their page.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        if obj is not None and user_is_kept(user=obj):
            return False
        return super().has_delete_permission(request, obj)

    def delete_view(self, request, object_id, extra_context=None):
        """For a user the ledger keeps, the delete page offers what will happen instead:
        deactivation, with a reason, through the changelist's action."""
        user = self.get_object(request, unquote(object_id))
        if user is None or not user_is_kept(user=user) or not self.has_change_permission(request, user):
            return super().delete_view(request, object_id, extra_context)
        return reason_page(
            self,
            request,
            [user],
            action_name=DEACTIVATE_ACTION,
            form=ActionReasonForm(),
            note=KEPT_NOTE.format(user=user.email),
            form_url=reverse("admin:authn_user_changelist"),
            title="Deactivate user",
        )
