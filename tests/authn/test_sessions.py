import pytest
from django.conf import settings

from authn.exceptions import EmailTakenError, InvalidCredentialsError
from authn.models import User
from notifications.models import OutboxEmail
from tests.factories import PASSWORD, UserFactory

REGISTER = "/api/auth/register"
LOGIN = "/api/auth/login"
ME = "/api/auth/me"


def register(client, **fields):
    body = {"name": "Ann Lee", "email": "ann@example.com", "password": "s3cure-pass-word", **fields}
    return client.post(REGISTER, body, format="json")


def assert_session(response, user):
    """Register and login answer the user and a token pair, with the access token in the cookie."""
    body = response.json()
    assert body == {
        "user": {"id": str(user.id), "name": user.name, "email": user.email},
        "token": body["token"],
        "refresh": body["refresh"],
    }
    cookie = response.cookies[settings.AUTH_COOKIE_NAME]
    assert cookie.value == body["token"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()
    assert response.cookies[settings.CSRF_COOKIE_NAME].value


# --- register ---------------------------------------------------------------------------------


def test_register_creates_user_and_answers_a_session(client, db):
    response = register(client, email="  Ann.Lee@Example.COM ")

    assert response.status_code == 201, response.content
    user = User.objects.get()
    assert user.email == "ann.lee@example.com"
    assert user.check_password("s3cure-pass-word")
    assert_session(response, user)


@pytest.mark.parametrize("secure", [False, True])
def test_register_cookie_is_secure_when_the_deployment_says_so(client, db, settings, secure):
    settings.AUTH_COOKIE_SECURE = secure

    response = register(client)

    assert bool(response.cookies[settings.AUTH_COOKIE_NAME]["secure"]) is secure


def test_register_ignores_privilege_fields(client, db):
    response = register(client, systemUser=True, isStaff=True, is_staff=True, is_superuser=True, is_system=True)

    assert response.status_code == 201, response.content
    user = User.objects.get()
    assert (user.is_system, user.is_staff, user.is_superuser) == (False, False, False)


@pytest.mark.parametrize("email", ["ann@example.com", "ANN@Example.com", " Ann@example.com "])
def test_register_refuses_a_taken_email_whatever_its_case(client, db, email):
    UserFactory(email="ann@example.com")

    response = register(client, email=email)

    assert response.status_code == 409
    assert response.json() == {"message": EmailTakenError.message, "code": "email_taken"}
    assert User.objects.count() == 1
    assert not OutboxEmail.objects.exists()


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"password": "Sh0rt!"}, "password", "This password is too short. It must contain at least 8 characters."),
        ({"password": "password123"}, "password", "This password is too common."),
        ({"password": "8305174296"}, "password", "This password is entirely numeric."),
        ({"password": "ann.lee@example.com"}, "password", "The password is too similar to the email."),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"email": ""}, "email", "This field may not be blank."),
        ({"name": "Ann\r\nBcc: victim@example.com"}, "name", "Control characters are not allowed."),
        ({"name": None}, "name", "This field may not be null."),
    ],
)
def test_register_validation_errors(client, db, fields, field, message):
    response = register(client, **{"email": "ann.lee@example.com", **fields})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert message in body["errors"][field]
    assert not User.objects.exists()


def test_register_requires_every_field(client, db):
    response = client.post(REGISTER, {}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"] == {field: ["This field is required."] for field in ("name", "email", "password")}


# --- login ------------------------------------------------------------------------------------


def test_login_answers_a_session(client, user):
    response = client.post(LOGIN, {"email": f"  {user.email.upper()}", "password": PASSWORD}, format="json")

    assert response.status_code == 200, response.content
    assert_session(response, user)
    me = client.get(ME, HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
    assert me.json()["user"]["id"] == str(user.id)


def test_login_does_not_tell_unknown_emails_from_wrong_passwords(client, user):
    unknown = client.post(LOGIN, {"email": "nobody@example.com", "password": PASSWORD}, format="json")
    wrong = client.post(LOGIN, {"email": user.email, "password": PASSWORD + "x"}, format="json")

    assert unknown.status_code == wrong.status_code == 401
    assert unknown.content == wrong.content
    assert wrong.json() == {"message": InvalidCredentialsError.message, "code": "invalid_credentials"}
    assert settings.AUTH_COOKIE_NAME not in wrong.cookies


def test_inactive_user_cannot_log_in(client, db):
    user = UserFactory(is_active=False)

    response = client.post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json")

    assert response.status_code == 401
    assert response.json() == {"message": InvalidCredentialsError.message, "code": "invalid_credentials"}
