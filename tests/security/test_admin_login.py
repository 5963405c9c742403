"""Password guessing at the admin's login form (django-axes).

After ADMIN_LOGIN_FAILURE_LIMIT (10) failures the account is locked for every address, and the
address for every account: the right password then gets a JSON 429, not a session. The API login
is neither counted nor locked by it (it has its own throttle). Attempts are rows in the test
database, so each test starts with none.
"""

import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client

from authn.exceptions import AdminLoginLockedError
from tests.factories import PASSWORD, UserFactory

LOGIN = "/admin/login/"
ATTACKER, OPERATOR = "198.51.100.7", "203.0.113.9"
LOCKED = {"message": AdminLoginLockedError.message, "code": "throttled"}


@pytest.fixture
def staff(db, settings):
    # A fast hasher: these tests make dozens of logins, and the lockout does not depend on it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return UserFactory(email="ops@example.com", is_staff=True, password=make_password(PASSWORD))


def admin_login(email, password, address):
    client = Client(REMOTE_ADDR=address)
    response = client.post(LOGIN, {"username": email, "password": password, "next": "/admin/"})
    return client, response


def assert_locked(client, response):
    assert response.status_code == 429, response.content
    assert response.json() == LOCKED
    assert int(response["Retry-After"]) == 15 * 60
    assert client.get("/admin/").status_code == 302  # no session: back to the login form


def test_the_login_form_still_works(staff):
    assert Client().get(LOGIN).status_code == 200

    client, response = admin_login(staff.email, PASSWORD, OPERATOR)

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("address", [ATTACKER, OPERATOR], ids=["same-address", "another-address"])
def test_ten_wrong_passwords_lock_the_account(staff, address):
    # Spelled differently each time: they are still one account.
    for n, spelling in enumerate(["ops@example.com", "OPS@Example.com", " Ops@EXAMPLE.com"] * 3 + ["ops@example.com"]):
        _, response = admin_login(spelling, f"guess-{n}", ATTACKER)
        assert response.status_code in (200, 429)  # the form again; the 10th is already locked

    assert_locked(*admin_login(staff.email, PASSWORD, address))


def test_ten_failures_lock_the_address_for_every_account(staff):
    for n in range(10):
        admin_login(f"someone{n}@example.com", "guess", ATTACKER)

    assert_locked(*admin_login(staff.email, PASSWORD, ATTACKER))
    assert admin_login(staff.email, PASSWORD, OPERATOR)[1].status_code == 302


def test_nine_failures_do_not_lock(staff):
    for n in range(9):
        admin_login(staff.email, f"guess-{n}", ATTACKER)

    assert admin_login(staff.email, PASSWORD, ATTACKER)[1].status_code == 302


def test_the_api_login_is_neither_counted_nor_locked(staff, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login": "1000/min"}
    api = Client(REMOTE_ADDR=ATTACKER)
    for n in range(12):
        body = {"email": staff.email, "password": f"guess-{n}"}
        assert api.post("/api/auth/login", body, content_type="application/json").status_code == 401

    assert admin_login(staff.email, PASSWORD, ATTACKER)[1].status_code == 302

    for n in range(10):
        admin_login(staff.email, f"guess-{n}", ATTACKER)
    body = {"email": staff.email, "password": PASSWORD}
    assert api.post("/api/auth/login", body, content_type="application/json").status_code == 200
