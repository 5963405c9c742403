from datetime import timedelta

import pytest
from django.conf import settings
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, UntypedToken

from authn.apis import LOGOUT_MESSAGE
from authn.exceptions import TokenInvalidError
from authn.models import BlacklistedToken
from authn.services import SESSION_CLAIM, tokens_issue
from tests.factories import PASSWORD, SystemUserFactory

ME = "/api/auth/me"
REFRESH = "/api/auth/refresh"
LOGOUT = "/api/auth/logout"

TOKEN_INVALID = {"message": TokenInvalidError.message, "code": "token_invalid"}


def me(client, token):
    return client.get(ME, HTTP_AUTHORIZATION=f"Bearer {token}")


# --- who am I -------------------------------------------------------------------------------


@pytest.mark.parametrize("carrier", ["bearer", "cookie"])
def test_me_with_either_token_carrier(client, user, carrier):
    access, _ = tokens_issue(user=user)
    if carrier == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    else:
        client.cookies[settings.AUTH_COOKIE_NAME] = access

    response = client.get(ME)

    assert response.status_code == 200, response.content
    assert response.json() == {
        "user": {"id": str(user.id), "name": user.name, "email": user.email, "systemUser": False}
    }


def test_me_tells_a_system_user(client, db):
    access, _ = tokens_issue(user=SystemUserFactory())

    assert me(client, access).json()["user"]["systemUser"] is True


def test_me_without_a_token(client, db):
    response = client.get(ME)

    assert response.status_code == 401
    assert response.json() == {"message": "Authentication credentials were not provided.", "code": "not_authenticated"}


def _expired_access(user):
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    return str(token)


def _foreign_access(user):
    """Well-formed, but signed with a key that is not ours."""
    token = AccessToken.for_user(user)
    return TokenBackend("HS256", "not-our-signing-key-" + "x" * 32).encode(token.payload)


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda user: "not-a-jwt", id="garbage"),
        pytest.param(lambda user: tokens_issue(user=user)[1], id="refresh-as-access"),
        pytest.param(_expired_access, id="expired"),
        pytest.param(_foreign_access, id="foreign-signature"),
    ],
)
def test_unusable_access_tokens_are_refused(client, user, make_token):
    response = me(client, make_token(user))

    assert response.status_code == 401
    assert response.json() == TOKEN_INVALID


def test_tokens_die_with_a_password_change(client, user):
    access, refresh = tokens_issue(user=user)
    user.set_password(PASSWORD + "-new")
    user.save()

    assert me(client, access).json() == TOKEN_INVALID
    assert client.post(REFRESH, {"refresh": refresh}, format="json").json() == TOKEN_INVALID


def test_tokens_die_with_deactivation(client, user):
    access, refresh = tokens_issue(user=user)
    user.is_active = False
    user.save()

    assert me(client, access).json() == TOKEN_INVALID
    assert client.post(REFRESH, {"refresh": refresh}, format="json").json() == TOKEN_INVALID


def test_tokens_of_a_deleted_user_are_refused(client, user):
    access, _ = tokens_issue(user=user)
    user.delete()

    assert me(client, access).json() == TOKEN_INVALID


# --- refresh --------------------------------------------------------------------------------


def test_refresh_rotates_the_pair(client, user):
    _, refresh = tokens_issue(user=user)

    response = client.post(REFRESH, {"refresh": refresh}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"token", "refresh"}
    assert body["refresh"] != refresh
    assert me(client, body["token"]).status_code == 200
    assert BlacklistedToken.objects.filter(jti=RefreshToken(refresh)["jti"]).exists()
    # The new refresh token works once, the old one never again.
    assert client.post(REFRESH, {"refresh": refresh}, format="json").json() == TOKEN_INVALID
    assert client.post(REFRESH, {"refresh": body["refresh"]}, format="json").status_code == 200


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda user: tokens_issue(user=user)[0], id="access-as-refresh"),
        pytest.param(lambda user: "garbage", id="garbage"),
    ],
)
def test_refresh_refuses_what_is_not_a_refresh_token(client, user, make_token):
    response = client.post(REFRESH, {"refresh": make_token(user)}, format="json")

    assert response.status_code == 401
    assert response.json() == TOKEN_INVALID


def test_refresh_requires_a_token(client, db):
    response = client.post(REFRESH, {}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"refresh": ["This field is required."]}


# --- logout ---------------------------------------------------------------------------------


@pytest.mark.parametrize("carrier", ["bearer", "cookie"])
def test_logout_blacklists_the_presented_access_token(client, user, carrier):
    access, _ = tokens_issue(user=user)
    if carrier == "bearer":
        response = client.post(LOGOUT, HTTP_AUTHORIZATION=f"Bearer {access}")
    else:
        client.cookies[settings.AUTH_COOKIE_NAME] = access
        response = client.post(LOGOUT)

    assert response.status_code == 200
    assert response.json() == {"message": LOGOUT_MESSAGE}
    cleared = response.cookies[settings.AUTH_COOKIE_NAME]
    assert (cleared.value, cleared["max-age"]) == ("", 0)
    assert me(client, access).json() == TOKEN_INVALID


def test_logout_blacklists_the_refresh_token_in_the_body(client, user):
    access, refresh = tokens_issue(user=user)

    client.post(LOGOUT, {"refresh": refresh}, format="json", HTTP_AUTHORIZATION=f"Bearer {access}")

    assert client.post(REFRESH, {"refresh": refresh}, format="json").json() == TOKEN_INVALID


def test_logout_twice_is_still_ok(client, user):
    access, refresh = tokens_issue(user=user)
    for _ in range(2):
        response = client.post(LOGOUT, {"refresh": refresh}, format="json", HTTP_AUTHORIZATION=f"Bearer {access}")
        assert response.status_code == 200
    assert BlacklistedToken.objects.count() == 1  # one session, one row


@pytest.mark.parametrize("headers", [{}, {"HTTP_AUTHORIZATION": "Bearer garbage"}], ids=["no-token", "garbage"])
def test_logout_without_a_usable_token_is_ok(client, db, headers):
    response = client.post(LOGOUT, {"refresh": "garbage"}, format="json", **headers)

    assert response.status_code == 200
    assert response.json() == {"message": LOGOUT_MESSAGE}
    assert not BlacklistedToken.objects.exists()


# --- sessions: logout ends every token of its login -----------------------------------------


def session_of(raw):
    return UntypedToken(raw)[SESSION_CLAIM]


def login(client, user):
    body = client.post("/api/auth/login", {"email": user.email, "password": PASSWORD}, format="json").json()
    return body["token"], body["refresh"]


def test_both_tokens_of_a_login_and_their_rotations_share_one_session(client, user):
    access, refresh = login(client, user)
    rotated = client.post(REFRESH, {"refresh": refresh}, format="json").json()

    sessions = {session_of(token) for token in (access, refresh, rotated["token"], rotated["refresh"])}

    assert len(sessions) == 1
    assert session_of(login(client, user)[0]) not in sessions  # a new login is a new session


@pytest.mark.parametrize("carrier", ["bearer", "cookie"])
def test_logout_with_the_access_token_alone_ends_the_refresh_token(client, user, carrier):
    access, refresh = login(client, user)
    if carrier == "bearer":
        client.post(LOGOUT, HTTP_AUTHORIZATION=f"Bearer {access}")
    else:
        client.cookies[settings.AUTH_COOKIE_NAME] = access
        client.post(LOGOUT)

    assert client.post(REFRESH, {"refresh": refresh}, format="json").json() == TOKEN_INVALID
    assert me(client, access).json() == TOKEN_INVALID


def test_logout_with_the_refresh_token_alone_ends_the_access_token(client, user):
    access, refresh = login(client, user)
    client.cookies.clear()

    client.post(LOGOUT, {"refresh": refresh}, format="json")

    assert me(client, access).json() == TOKEN_INVALID


def test_logout_ends_the_tokens_that_rotation_issued_later(client, user):
    """A stolen refresh token that was rotated since still belongs to the session logged out."""
    first_access, first_refresh = login(client, user)
    stolen = client.post(REFRESH, {"refresh": first_refresh}, format="json").json()
    client.cookies.clear()

    client.post(LOGOUT, HTTP_AUTHORIZATION=f"Bearer {first_access}")

    assert me(client, stolen["token"]).json() == TOKEN_INVALID
    assert client.post(REFRESH, {"refresh": stolen["refresh"]}, format="json").json() == TOKEN_INVALID


def test_logout_ends_only_its_own_session(client, user):
    phone, laptop = login(client, user), login(client, user)
    client.cookies.clear()

    client.post(LOGOUT, {"refresh": phone[1]}, format="json", HTTP_AUTHORIZATION=f"Bearer {phone[0]}")

    assert me(client, laptop[0]).status_code == 200
    assert client.post(REFRESH, {"refresh": laptop[1]}, format="json").status_code == 200


def test_a_token_without_a_session_is_refused(client, user):
    """Tokens from before sessions existed could not be ended by logout: they are refused."""
    sessionless = RefreshToken.for_user(user)

    assert me(client, str(sessionless.access_token)).json() == TOKEN_INVALID
    assert client.post(REFRESH, {"refresh": str(sessionless)}, format="json").json() == TOKEN_INVALID


def test_checking_a_token_is_one_query(client, user, django_assert_num_queries):
    access, _ = tokens_issue(user=user)

    with django_assert_num_queries(1):
        assert me(client, access).status_code == 200
