"""Account enumeration and password guessing at the login.

Login must not tell a registered email from an unknown one, by its answer or by its time, and an
address that keeps guessing is stopped with 429, even once it guesses right.
"""

import statistics
import time

import pytest
from django.conf import settings

from tests.factories import PASSWORD, UserFactory

LOGIN = "/api/auth/login"


def _login(client, email, password, **extra):
    return client.post(LOGIN, {"email": email, "password": password}, format="json", **extra)


@pytest.fixture
def unthrottled(settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login": "1000/min"}


def test_unknown_email_wrong_password_and_inactive_user_look_the_same(client, user, unthrottled):
    inactive = UserFactory(is_active=False)

    answers = [
        _login(client, "nobody@example.com", PASSWORD),
        _login(client, user.email, PASSWORD + "x"),
        _login(client, inactive.email, PASSWORD),
    ]

    assert {a.status_code for a in answers} == {401}
    assert len({a.content for a in answers}) == 1
    assert len({tuple(sorted(a.headers)) for a in answers}) == 1
    assert not any(a.cookies for a in answers)


def _seconds(client, email, password):
    start = time.perf_counter()
    assert _login(client, email, password).status_code == 401
    return time.perf_counter() - start


def test_an_unknown_email_costs_as_long_as_a_wrong_password(client, user, unthrottled):
    """Django's ModelBackend hashes the given password even when no user has the email, so both
    failures cost one Argon2 hash. Without that, the unknown email would answer many times faster.
    Attempts alternate, so a busy machine slows both alike; the bound is loose on purpose: this
    checks that the hash happens, not the machine's jitter."""
    _login(client, "warm@example.com", PASSWORD)  # first-request costs out of the way
    unknown, wrong = [], []
    for _ in range(7):
        unknown.append(_seconds(client, "nobody@example.com", PASSWORD))
        wrong.append(_seconds(client, user.email, PASSWORD + "x"))

    ratio = statistics.median(unknown) / statistics.median(wrong)

    assert 0.5 <= ratio <= 2.0, (unknown, wrong)


@pytest.fixture
def three_a_minute(settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login": "3/min"}


def test_guessing_is_stopped_even_when_the_guess_is_right(client, user, three_a_minute):
    for n in range(3):
        assert _login(client, user.email, f"guess-{n}").status_code == 401

    response = _login(client, user.email, PASSWORD)

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    assert "token" not in response.json() and settings.AUTH_COOKIE_NAME not in response.cookies


def test_spreading_guesses_over_many_emails_is_stopped_too(client, db, three_a_minute):
    for n in range(3):
        _login(client, f"user{n}@example.com", "Password1!")

    assert _login(client, "user3@example.com", "Password1!").status_code == 429


def test_a_forged_forwarded_for_header_does_not_reset_the_count(client, user, three_a_minute):
    """No proxy is trusted by default (TRUSTED_PROXY_COUNT=0): X-Forwarded-For is the client's word."""
    for n in range(3):
        _login(client, user.email, f"guess-{n}", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")

    response = _login(client, user.email, "guess-3", HTTP_X_FORWARDED_FOR="198.51.100.99")

    assert response.status_code == 429
