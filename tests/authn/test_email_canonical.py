"""One user per mailbox: every way in (register, login, the admin, create_system_user) reads an
email address through authn.models.normalize_email, so invisible characters are refused and
each mailbox has one spelling."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from authn.exceptions import EmailTakenError
from authn.models import EMAIL_AMBIGUOUS, EMAIL_INVALID, User, normalize_email
from notifications.models import OutboxEmail
from tests.factories import PASSWORD, UserFactory

REGISTER = "/api/auth/register"
LOGIN = "/api/auth/login"
USER_ADD = "/admin/authn/user/add/"

# (a spelling, the canonical form of its mailbox)
SPELLINGS = [
    ("Ann.Lee@Example.COM", "ann.lee@example.com"),
    ("  ann@example.com ", "ann@example.com"),
    ("ann@xn--bcher-kva.example", "ann@bücher.example"),
    ("ann@Bücher.Example", "ann@bücher.example"),
    ("ann@ＥＸＡＭＰＬＥ.com", "ann@example.com"),  # full-width letters in a domain are its ASCII letters
    ("ann@exampſe.com", "ann@exampse.com"),  # so is ſ in a domain: DNS knows it as s
    ("Müller@example.com", "müller@example.com"),
    ("System@Ledger.LOCAL", "system@ledger.local"),  # the operators' own special-use domain
]

INVISIBLE = [
    "x@exa\u200bmple.com",  # zero-width space
    "x@exa\u2028mple.com",  # line separator
    "x@exa\u00admple.com",  # soft hyphen
    "x@exa\u2060mple.com",  # word joiner
    "x\u200b@example.com",
    "x@example.com\u200b",
]

# Some mail servers fold these into other letters, so they could name another user's mailbox.
OTHER_SPECIAL_USE = ["x@localhost", "x@a.test", "x@a.invalid", "x@a.onion"]
AMBIGUOUS = ["ſam@example.com", "ｓａｍ@example.com", "straße@example.com", "ann@straße.example"]


def register(client, email):
    return client.post(REGISTER, {"name": "Ann", "email": email, "password": "s3cure-pass-word"}, format="json")


@pytest.mark.parametrize("spelling, canonical", SPELLINGS)
def test_normalize_email_gives_each_mailbox_one_spelling(spelling, canonical):
    assert normalize_email(spelling) == canonical
    assert normalize_email(canonical) == canonical


@pytest.mark.parametrize("spelling, canonical", SPELLINGS)
def test_register_stores_the_canonical_spelling(client, db, spelling, canonical):
    response = register(client, spelling)

    assert response.status_code == 201, response.content
    assert response.json()["user"]["email"] == canonical
    assert User.objects.get().email == canonical
    assert OutboxEmail.objects.get().to == canonical


@pytest.mark.parametrize("spelling, canonical", SPELLINGS)
def test_another_spelling_of_a_taken_mailbox_is_409(client, db, spelling, canonical):
    UserFactory(email=canonical)

    response = register(client, spelling)

    assert response.status_code == 409
    assert response.json() == {"message": EmailTakenError.message, "code": "email_taken"}
    assert User.objects.count() == 1
    assert not OutboxEmail.objects.exists()


@pytest.mark.parametrize("spelling, canonical", SPELLINGS)
def test_login_with_any_spelling_finds_the_user(client, db, spelling, canonical):
    user = UserFactory(email=canonical)

    response = client.post(LOGIN, {"email": spelling, "password": PASSWORD}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["user"]["id"] == str(user.id)


@pytest.mark.parametrize(
    "email, message",
    [(email, EMAIL_INVALID) for email in INVISIBLE + OTHER_SPECIAL_USE]
    + [(email, EMAIL_AMBIGUOUS) for email in AMBIGUOUS],
)
def test_register_refuses_invisible_and_ambiguous_letters(client, db, email, message):
    UserFactory(email="x@example.com")

    response = register(client, email)

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"] == {"email": [message]}
    assert User.objects.count() == 1 and not OutboxEmail.objects.exists()


@pytest.mark.parametrize("email", INVISIBLE + AMBIGUOUS)
def test_login_with_a_refused_address_is_just_invalid_credentials(client, db, email):
    UserFactory(email="x@example.com")

    response = client.post(LOGIN, {"email": email, "password": PASSWORD}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


# --- the admin and the management command ----------------------------------------------------


@pytest.fixture
def staff_client(db):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def admin_add(staff_client, email):
    body = {"email": email, "name": "Ann", "password1": "s3cure-pass-word", "password2": "s3cure-pass-word"}
    return staff_client.post(USER_ADD, body)


def test_the_admin_stores_the_canonical_spelling(staff_client):
    response = admin_add(staff_client, "Ann@Bücher.Example")

    assert response.status_code == 302, response.content
    assert User.objects.filter(email="ann@bücher.example").exists()


@pytest.mark.parametrize("email", ["ann@xn--bcher-kva.example", "x@exa\u200bmple.com", "ſam@example.com"])
def test_the_admin_refuses_a_taken_or_refused_address(staff_client, email):
    UserFactory(email="ann@bücher.example")
    users = User.objects.count()

    response = admin_add(staff_client, email)

    assert response.status_code == 200  # the form again, with its error
    assert response.context["adminform"].form.errors["email"]
    assert User.objects.count() == users


def test_the_admin_change_form_stores_the_canonical_spelling(staff_client):
    user = UserFactory(email="ann@example.com")
    body = {
        "email": "Ann@XN--BCHER-KVA.example",
        "name": user.name,
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }

    response = staff_client.post(f"/admin/authn/user/{user.id}/change/", body)

    assert response.status_code == 302, response.content
    user.refresh_from_db()
    assert user.email == "ann@bücher.example"


def test_create_system_user_finds_the_user_under_another_spelling(db):
    UserFactory(email="ops@bücher.example", is_system=False)

    call_command("create_system_user", "--email", "OPS@xn--bcher-kva.example", "--name", "Ops", "--no-input")

    assert User.objects.get().is_system


def test_create_system_user_refuses_a_refused_address(db):
    with pytest.raises(CommandError, match=EMAIL_INVALID):
        call_command("create_system_user", "--email", "x@exa\u200bmple.com", "--name", "Ops", "--no-input")
    assert not User.objects.exists()
