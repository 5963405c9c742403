"""Forged and stale tokens get a 401 and move no money.

Each forgery below claims to be the victim and tries to empty the victim's account into the
attacker's, carried as a bearer token and as the `token` cookie. Stale tokens that are covered in
tests/authn/test_tokens.py are not repeated here: refresh token used as access, access after logout,
refresh after rotation or logout, deactivated or deleted user, password change.
"""

import base64
import json
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, UntypedToken

from authn.exceptions import TokenInvalidError
from authn.models import BlacklistedToken
from authn.services import SESSION_CLAIM, TOKEN_ID_MAX_LENGTH, tokens_issue
from tests.factories import AccountFactory, UserFactory, funded_account
from tests.transactions.requests import TRANSACTIONS
from transactions.models import Transaction

TOKEN_INVALID = {"message": TokenInvalidError.message, "code": "token_invalid"}


def _b64(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(user, *, refresh=False, **changes):
    """The claims of a genuine access (or refresh) token for `user`; a change of None removes
    the claim."""
    genuine = tokens_issue(user=user)[1 if refresh else 0]
    claims = {**UntypedToken(genuine).payload, **changes}
    return {name: value for name, value in claims.items() if value is not None}


def _sign(claims, key=None, algorithm="HS256"):
    return jwt.encode(claims, key or settings.SIMPLE_JWT["SIGNING_KEY"], algorithm=algorithm)


def alg_none(victim, attacker):
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(victim))}."


def alg_none_keeping_a_signature(victim, attacker):
    _, _, signature = _sign(_claims(victim)).split(".")
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(victim))}.{signature}"


def another_key(victim, attacker):
    return _sign(_claims(victim), key="not-our-signing-key-" + "x" * 32)


def algorithm_swapped_to_hs512(victim, attacker):
    return _sign(_claims(victim), algorithm="HS512")  # our key, but not the algorithm we accept


def payload_swapped_into_own_token(victim, attacker):
    header, _, signature = tokens_issue(user=attacker)[0].split(".")
    return f"{header}.{_b64(_claims(victim))}.{signature}"


def expiry_pushed_back(victim, attacker):
    expired = AccessToken.for_user(victim)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    header, _, signature = str(expired).split(".")
    return f"{header}.{_b64({**expired.payload, 'exp': expired.payload['exp'] + 3600})}.{signature}"


def expired(victim, attacker):
    token = AccessToken.for_user(victim)
    token.set_exp(lifetime=-timedelta(seconds=1))
    return str(token)


# With our key: what a leaked signing key would still not allow. Each must be refused, not a 500.
def no_expiry(victim, attacker):
    return _sign(_claims(victim, exp=None))


def no_token_id(victim, attacker):
    return _sign(_claims(victim, jti=None))


def no_token_type(victim, attacker):
    return _sign(_claims(victim, token_type=None))


def refresh_type(victim, attacker):
    return _sign(_claims(victim, token_type="refresh"))


def no_password_stamp(victim, attacker):
    """The claim that ties a token to the current password (CHECK_REVOKE_TOKEN) is left out."""
    return _sign(_claims(victim, hash_password=None))


FORGERIES = [
    alg_none,
    alg_none_keeping_a_signature,
    another_key,
    algorithm_swapped_to_hs512,
    payload_swapped_into_own_token,
    expiry_pushed_back,
    expired,
    no_expiry,
    no_token_id,
    no_token_type,
    refresh_type,
    no_password_stamp,
]


@pytest.fixture
def victim_account(db):
    return funded_account("500.00", owner=UserFactory())


@pytest.fixture
def attacker(db):
    return UserFactory()


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS512 with our HS256 key
@pytest.mark.parametrize("carrier", ["bearer", "cookie"])
@pytest.mark.parametrize("forge", FORGERIES)
def test_a_forged_token_moves_no_money(victim_account, attacker, forge, carrier):
    token = forge(victim_account.owner, attacker)
    client = APIClient()
    if carrier == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    else:
        client.cookies[settings.AUTH_COOKIE_NAME] = token
    body = {
        "fromAccount": str(victim_account.id),
        "toAccount": str(AccountFactory(owner=attacker).id),
        "amount": "500.00",
        "idempotencyKey": "heist",
    }

    response = client.post(TRANSACTIONS, body, format="json")

    assert response.status_code == 401, response.content
    assert response.json() == TOKEN_INVALID
    victim_account.refresh_from_db()
    assert victim_account.balance == 50000
    assert not Transaction.objects.filter(idempotency__key="heist").exists()


def test_the_forgeries_would_work_if_signed_properly(victim_account, attacker):
    """The table above is only meaningful if an honest token with the same claims passes."""
    honest = APIClient()
    honest.credentials(HTTP_AUTHORIZATION=f"Bearer {_sign(_claims(victim_account.owner))}")

    assert honest.get("/api/auth/me").json()["user"]["email"] == victim_account.owner.email


@pytest.mark.parametrize("param", ["token", "access_token", "jwt", "auth", "Authorization"])
def test_a_token_in_the_query_string_is_ignored(user, param):
    access, _ = tokens_issue(user=user)
    value = f"Bearer {access}" if param == "Authorization" else access

    response = APIClient().get("/api/auth/me", {param: value})

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- ids the blacklist cannot hold --------------------------------------------------------------

# Signed with our key (what a leaked key would allow): the token and session ids reach the
# blacklist's query, where a NUL or an overlong id would fail in PostgreSQL.
UNSTORABLE_IDS = {
    "nul": "abc\x00def",
    "too-long": "x" * (TOKEN_ID_MAX_LENGTH + 1),
    "control": "abc\ndef",
    "not-a-string": 12345,
    "empty": "",
}


@pytest.fixture(params=["jti", SESSION_CLAIM])
def claim(request):
    return request.param


@pytest.fixture(params=list(UNSTORABLE_IDS))
def unstorable(request):
    return UNSTORABLE_IDS[request.param]


@pytest.mark.parametrize("carrier", ["bearer", "cookie"])
@pytest.mark.parametrize("method, path", [("get", "/api/auth/me"), ("post", TRANSACTIONS), ("get", "/api/accounts")])
def test_an_access_token_with_an_unstorable_id_is_401(user, claim, unstorable, carrier, method, path):
    client = APIClient()
    token = _sign(_claims(user, **{claim: unstorable}))
    if carrier == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    else:
        client.cookies[settings.AUTH_COOKIE_NAME] = token

    response = getattr(client, method)(path, {}, format="json")

    assert response.status_code == 401, response.content
    assert response.json() == TOKEN_INVALID


def test_a_refresh_token_with_an_unstorable_id_is_401(user, claim, unstorable):
    token = _sign(_claims(user, refresh=True, **{claim: unstorable}))

    response = APIClient().post("/api/auth/refresh", {"refresh": token}, format="json")

    assert response.status_code == 401, response.content
    assert response.json() == TOKEN_INVALID
    assert not BlacklistedToken.objects.exists()


def test_logout_with_unstorable_ids_is_still_200(user, claim, unstorable):
    """Logout answers 200 whatever it is given (API.md); these tokens end nothing."""
    client = APIClient()
    client.cookies[settings.AUTH_COOKIE_NAME] = _sign(_claims(user, **{claim: unstorable}))
    bearer = _sign(_claims(user, **{claim: unstorable}))
    refresh = _sign(_claims(user, refresh=True, **{claim: unstorable}))

    response = client.post(
        "/api/auth/logout", {"refresh": refresh}, format="json", HTTP_AUTHORIZATION=f"Bearer {bearer}"
    )

    assert response.status_code == 200, response.content
    assert not BlacklistedToken.objects.exists()
