import pytest
from rest_framework.test import APIClient

from tests.concurrency import run_concurrently

ATTEMPTS = {
    "login": ("/api/auth/login", lambda n: {"email": "nobody@example.com", "password": f"guess-{n}"}),
    "register": (
        "/api/auth/register",
        lambda n: {"name": "Ann", "email": f"ann{n}@example.com", "password": "s3cure-pass-word"},
    ),
}


@pytest.fixture
def three_a_day(settings):
    # The throttle reads settings.THROTTLE_RATES on every request. A day, not a minute: the window
    # is fixed, and a test whose requests straddled a minute's edge on a busy machine got a fresh
    # window for its fourth request (seen once; only midnight UTC can do that now).
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login": "3/day", "register": "3/day"}


@pytest.mark.parametrize("scope", ATTEMPTS)
def test_fourth_attempt_from_one_address_is_throttled(client, db, three_a_day, scope):
    url, body = ATTEMPTS[scope]
    for n in range(3):
        assert client.post(url, body(n), format="json").status_code != 429

    response = client.post(url, body(3), format="json")

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 24 * 3600
    # Another address has its own allowance.
    assert client.post(url, body(4), format="json", REMOTE_ADDR="203.0.113.9").status_code != 429


def test_login_and_register_are_counted_apart(client, db, three_a_day):
    for n in range(3):
        client.post(ATTEMPTS["login"][0], ATTEMPTS["login"][1](n), format="json")

    url, body = ATTEMPTS["register"]
    assert client.post(url, body(0), format="json").status_code == 201


def test_parallel_guesses_get_exactly_the_rate(db, settings):
    """40 guesses at once from one address: exactly the rate's 10 reach the password check. The
    count is one atomic INCR per request; a read-then-write counter lets several requests read
    the same count (DRF's throttle admitted 15 of 40 this way)."""
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login": "10/day"}
    url, body = ATTEMPTS["login"]

    def guess(n):
        return lambda: APIClient().post(url, body(n), format="json").status_code

    statuses, errors = run_concurrently([guess(n) for n in range(40)], workers=40)

    assert errors == [None] * 40
    assert statuses.count(401) == 10 and statuses.count(429) == 30, statuses
