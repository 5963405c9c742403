"""The users admin: emails read as registration reads them, a taken address a form error, newest
first at a constant query count, and users the ledger keeps deactivated (with a reason and a
trail) instead of a delete the database would refuse."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from authn.exceptions import EmailTakenError, UserInactiveError
from authn.models import User
from ledger_project.admin_actions import SELECTION_INVALID
from tests.conftest import bearer_client
from tests.factories import AccountFactory, UserFactory, funded_account

CHANGELIST = "/admin/authn/user/"
ADD_PAGE = CHANGELIST + "add/"
CHANGE_PAGE = CHANGELIST + "{id}/change/"
DELETE_PAGE = CHANGELIST + "{id}/delete/"
HISTORY_PAGE = CHANGELIST + "{id}/history/"
DEACTIVATE = "user_deactivate_action"
LIST_MAX_QUERIES = 7  # session, operator, two counts, the page, the date hierarchy's two


@pytest.fixture
def operator(db):
    return UserFactory(is_staff=True, is_superuser=True, email="operator@ledger.local")


@pytest.fixture
def admin_client(operator):
    client = Client(raise_request_exception=False)
    client.force_login(operator)
    return client


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def add_user(admin_client, email):
    body = {"email": email, "name": "Ann", "password1": "s3cure-pass-word", "password2": "s3cure-pass-word"}
    return admin_client.post(ADD_PAGE, body)


def change_user(admin_client, user, **fields):
    body = {
        "email": user.email,
        "name": user.name,
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        **fields,
    }
    return admin_client.post(CHANGE_PAGE.format(id=user.id), body)


def deactivate(admin_client, users, reason=None):
    body = {"action": DEACTIVATE, "_selected_action": [str(getattr(u, "id", u)) for u in users]}
    body.update({"index": 0} if reason is None else {"confirm": "yes", "reason": reason})
    return admin_client.post(CHANGELIST, body, follow=True)


# --- 2, 3: constant queries, newest first ------------------------------------------------------


@pytest.mark.parametrize("rows", [1, 50])
def test_the_list_costs_the_same_queries_at_any_size(admin_client, django_assert_max_num_queries, rows):
    UserFactory.create_batch(rows)

    with django_assert_max_num_queries(LIST_MAX_QUERIES):
        response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == rows + 1  # and the operator


def test_newest_first_with_a_date_hierarchy(admin_client, operator):
    old, new = UserFactory(), UserFactory()
    User.objects.filter(id=old.id).update(date_joined=timezone.now() - timedelta(days=400))
    User.objects.filter(id=operator.id).update(date_joined=timezone.now() - timedelta(days=1))

    response = admin_client.get(CHANGELIST)

    assert [u.id for u in response.context["cl"].result_list] == [new.id, operator.id, old.id]
    assert response.context["cl"].date_hierarchy == "date_joined"


def test_a_user_links_to_their_accounts(admin_client):
    account = AccountFactory()
    AccountFactory()
    url = f"/admin/accounts/account/?owner__id__exact={account.owner_id}"

    page = admin_client.get(CHANGE_PAGE.format(id=account.owner_id)).content.decode()

    assert f'href="{url}"' in page
    assert [a.id for a in admin_client.get(url).context["cl"].result_list] == [account.id]


# --- 9: emails as the API reads them -----------------------------------------------------------


@pytest.mark.parametrize(
    "typed, stored",
    [("Ann.Lee@Example.COM", "ann.lee@example.com"), ("Müller@Example.com", "müller@example.com")],
)
def test_the_add_form_stores_the_apis_spelling(admin_client, typed, stored):
    response = add_user(admin_client, typed)

    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    assert User.objects.filter(email=stored).exists()
    assert LogEntry.objects.filter(action_flag=ADDITION, object_repr=stored).exists()


@pytest.mark.parametrize("typed", ["ANN@example.com", " ann@EXAMPLE.com "])
def test_a_taken_address_in_another_case_is_a_form_error(admin_client, typed):
    UserFactory(email="ann@example.com")
    users = User.objects.count()

    response = add_user(admin_client, typed)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"] == [EmailTakenError.message]
    assert User.objects.count() == users


def test_the_change_form_normalizes_and_refuses_a_taken_address(admin_client):
    UserFactory(email="ann@example.com")
    bob = UserFactory(email="bob@example.com")

    taken = change_user(admin_client, bob, email="Ann@Example.com")
    renamed = change_user(admin_client, bob, email="Robert@Example.COM")

    assert taken.status_code == 200
    assert taken.context["adminform"].form.errors["email"] == [EmailTakenError.message]
    assert renamed.status_code == 302
    bob.refresh_from_db()
    assert bob.email == "robert@example.com"


def test_a_user_the_api_registered_can_be_edited(admin_client):
    user = UserFactory(email="müller@example.com")

    response = change_user(admin_client, user, email="MÜLLER@example.com", name="Jürgen")

    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.email, user.name) == ("müller@example.com", "Jürgen")


def test_a_change_through_the_form_leaves_a_trail(admin_client, operator):
    user = UserFactory()

    change_user(admin_client, user, name="Renamed")

    entry = LogEntry.objects.get(object_id=str(user.id))
    assert (entry.user, entry.action_flag, entry.get_change_message()) == (operator, CHANGE, "Changed Name.")
    assert b"Changed Name." in admin_client.get(HISTORY_PAGE.format(id=user.id)).content


# --- 9: users with money are deactivated, not deleted -------------------------------------------


def test_a_user_without_accounts_may_be_deleted(admin_client):
    user = UserFactory()

    page = admin_client.get(DELETE_PAGE.format(id=user.id))
    response = admin_client.post(DELETE_PAGE.format(id=user.id), {"post": "yes"})

    assert b"Are you sure" in page.content
    assert response.status_code == 302
    assert not User.objects.filter(id=user.id).exists()


@pytest.mark.parametrize("holding", ["an empty account", "money"])
def test_a_user_with_an_account_is_offered_deactivation_not_deletion(admin_client, holding):
    account = AccountFactory() if holding == "an empty account" else funded_account("5.00")
    owner = account.owner

    change_page = admin_client.get(CHANGE_PAGE.format(id=owner.id)).content.decode()
    delete_page = admin_client.get(DELETE_PAGE.format(id=owner.id))
    forced = admin_client.post(DELETE_PAGE.format(id=owner.id), {"post": "yes"})

    assert f"/admin/authn/user/{owner.id}/delete/" not in change_page
    assert "admin/action_reason.html" in [t.name for t in delete_page.templates]
    assert b"deactivated instead of deleted" in delete_page.content
    assert forced.status_code == 200 and b"deactivated instead of deleted" in forced.content
    owner.refresh_from_db()
    assert owner.is_active


def test_an_operator_with_a_trail_is_kept(admin_client, operator):
    deactivate(admin_client, [UserFactory()], reason="Spam sign-up")  # the operator's first entry
    other = Client()
    other.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = other.post(DELETE_PAGE.format(id=operator.id), {"post": "yes"})

    assert b"deactivated instead of deleted" in response.content
    assert LogEntry.objects.filter(user=operator).exists()


def test_deleting_in_bulk_is_not_offered(admin_client):
    user = UserFactory()

    offered = dict(admin_client.get(CHANGELIST).context["action_form"].fields["action"].choices)
    forced = admin_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [str(user.id)], "index": 0}, follow=True
    )

    assert "delete_selected" not in offered and DEACTIVATE in offered
    assert "No action selected." in messages_of(forced)
    assert User.objects.filter(id=user.id).exists()


def test_deactivate_with_a_reason_ends_access_and_leaves_a_trail(admin_client, operator):
    account = funded_account("5.00")
    owner = account.owner
    api = bearer_client(owner)
    assert api.get("/api/auth/me").status_code == 200
    browser = Client()
    browser.force_login(UserFactory(is_staff=True, is_superuser=True, email="other-operator@ledger.local"))

    asked = deactivate(admin_client, [owner])
    done = deactivate(admin_client, [owner, browser.session["_auth_user_id"]], reason="Account takeover")

    assert "admin/action_reason.html" in [t.name for t in asked.templates]
    assert done.status_code == 200
    assert set(User.objects.filter(is_active=False).values_list("email", flat=True)) == {
        owner.email,
        "other-operator@ledger.local",
    }
    entry = LogEntry.objects.get(object_id=str(owner.id))
    assert (entry.user, entry.get_change_message()) == (operator, "Deactivated. Reason: Account takeover")
    assert b"Deactivated. Reason: Account takeover" in admin_client.get(HISTORY_PAGE.format(id=owner.id)).content
    assert api.get("/api/auth/me").status_code == 401
    assert browser.get(CHANGELIST).status_code == 302  # to the login page
    account.refresh_from_db()
    assert account.balance == 500


def test_deactivate_from_the_delete_page(admin_client):
    owner = AccountFactory().owner
    page = admin_client.get(DELETE_PAGE.format(id=owner.id)).content.decode()
    assert f'action="{CHANGELIST}"' in page

    deactivate(admin_client, [owner], reason="Closed by request")

    owner.refresh_from_db()
    assert not owner.is_active


def test_deactivate_without_a_reason_changes_nothing(admin_client):
    owner = AccountFactory().owner

    response = deactivate(admin_client, [owner], reason="")

    assert response.context["form"].errors["reason"]
    owner.refresh_from_db()
    assert owner.is_active
    assert not LogEntry.objects.exists()


def test_deactivating_an_inactive_user_logs_nothing(admin_client):
    user = UserFactory(is_active=False)

    response = deactivate(admin_client, [user], reason="Again")

    assert f"{user.email}: {UserInactiveError.message}" in messages_of(response)
    assert not LogEntry.objects.exists()


@pytest.mark.parametrize("forged", ["not-a-uuid", "0; DROP TABLE authn_user"])
def test_a_forged_selection_is_refused_in_words(admin_client, forged):
    user = UserFactory()

    response = deactivate(admin_client, [forged, user], reason="Forged")

    assert SELECTION_INVALID in messages_of(response)
    user.refresh_from_db()
    assert user.is_active


@pytest.mark.parametrize("page", [CHANGE_PAGE, DELETE_PAGE, HISTORY_PAGE])
@pytest.mark.parametrize("forged", ["not-a-uuid", str(uuid.uuid4())])
def test_a_forged_user_id_is_a_redirect_with_a_message(admin_client, page, forged):
    response = admin_client.get(page.format(id=forged), follow=True)

    assert response.status_code == 200
    assert any("doesn’t exist" in m for m in messages_of(response))


@pytest.mark.parametrize("query", ["date_joined__year=99999", "date_joined__month=13&date_joined__year=2026", "id=x"])
def test_a_bad_filter_is_never_a_500(admin_client, query):
    response = admin_client.get(f"{CHANGELIST}?{query}", follow=True)

    assert response.status_code == 200
