"""Resource limits: no request can make the service read, parse, hash, store or return without
bound. (Every malformed amount is in tests/transactions/test_amounts.py.)"""

import bz2
import json
import zlib

import pytest

from accounts.exceptions import AccountLimitReachedError
from accounts.models import Account
from accounts.services import account_close, account_open
from ledger_project.exceptions import LengthRequiredError, PayloadTooLargeError
from ledger_project.parsers import UTF8_ONLY_MESSAGE
from tests.concurrency import run_concurrently
from tests.conftest import bearer_client
from tests.factories import UserFactory, funded_account
from transactions.models import Transaction

TOO_LARGE = {"message": PayloadTooLargeError.message, "code": "payload_too_large"}


def _body_of_size(size, **fields):
    """A JSON object of exactly `size` bytes: the fields, padded with a filler field."""
    text = json.dumps({**fields, "filler": ""})
    return text[:-2] + "x" * (size - len(text)) + text[-2:]


@pytest.mark.parametrize("path", ["/api/auth/register", "/api/auth/login", "/api/transactions", "/api/nope"])
def test_a_body_over_the_limit_is_413(settings, user, path):
    settings.MAX_REQUEST_BODY_BYTES = 2048
    source = funded_account("10.00", owner=user)
    transfer = {"fromAccount": str(source.id), "toAccount": str(source.id), "amount": "1", "idempotencyKey": "k"}

    response = bearer_client(user).post(path, _body_of_size(2049, **transfer), content_type="application/json")

    assert response.status_code == 413
    assert response.json() == TOO_LARGE
    assert not Transaction.objects.filter(idempotency__key="k").exists()


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/transactions", "/api/nope"])
def test_a_chunked_body_is_411(auth_client, path):
    # What a WSGI server hands Django for `Transfer-Encoding: chunked`: the header, no length.
    response = auth_client.generic("POST", path, b"", CONTENT_TYPE="application/json", HTTP_TRANSFER_ENCODING="chunked")

    assert response.status_code == 411
    assert response.json() == {"message": LengthRequiredError.message, "code": "length_required"}


def test_a_body_at_the_limit_is_read(settings, db, client):
    settings.MAX_REQUEST_BODY_BYTES = 2048

    response = client.post(
        "/api/auth/login", _body_of_size(2048, email="a@example.com"), content_type="application/json"
    )

    assert response.status_code == 400  # read and validated: the password is missing
    assert list(response.json()["errors"]) == ["password"]


def test_the_default_limit_is_64_kib(client, db):
    response = client.post("/api/auth/login", _body_of_size(64 * 1024 + 1), content_type="application/json")

    assert response.status_code == 413


@pytest.mark.parametrize(
    "body",
    ["[" * 30_000 + "]" * 30_000, '{"a":' * 10_000 + "1" + "}" * 10_000, '{"amount": ' + "9" * 5_000 + "}"],
    ids=["nested-arrays", "nested-objects", "5000-digit-number"],
)
def test_bodies_that_are_hard_to_parse_are_400(client, db, body):
    response = client.post("/api/auth/login", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"message": "Malformed JSON body.", "code": "validation_error"}


# 5 MB of JSON that compresses to a few hundred bytes: a decompression bomb past the body limit.
BOMB = b'{"refresh": "' + b"a" * 5_000_000 + b'"}'


@pytest.mark.parametrize(
    "charset, body",
    [
        ("bz2", bz2.compress(BOMB)),
        ("zlib", zlib.compress(BOMB)),
        ("rot13", b'{"refresh": "x"}'),
        ("no-such-codec", b'{"refresh": "x"}'),
        ("latin-1", b'{"refresh": "\xe9"}'),
        ("utf-16", '{"refresh": "x"}'.encode("utf-16")),
        ("utf-8-sig", b'{"refresh": "x"}'),
    ],
    ids=lambda value: value if isinstance(value, str) else "body",
)
def test_a_body_in_any_charset_but_utf8_is_415(client, db, charset, body):
    response = client.post("/api/auth/refresh", body, content_type=f"application/json; charset={charset}")

    assert response.status_code == 415, response.content
    assert response.json() == {"message": UTF8_ONLY_MESSAGE, "code": "unsupported_media_type"}


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8", "UTF8", "Utf-8", '"utf-8"'])
def test_a_body_in_utf8_under_any_of_its_names_is_read(client, db, charset):
    body = '{"email": "zoë@example.com"}'.encode()

    response = client.post("/api/auth/login", body, content_type=f"application/json; charset={charset}")

    assert response.status_code == 400  # read and validated: the password is missing
    assert list(response.json()["errors"]) == ["password"]


@pytest.mark.parametrize(
    "path", ["/api/transactions?limit=1000000", "/api/accounts/{id}/entries?limit=201", "/api/accounts?limit=201"]
)
def test_page_sizes_are_capped(user, path):
    account = funded_account("10.00", owner=user)

    response = bearer_client(user).get(path.format(id=account.id))

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["limit"]


@pytest.mark.parametrize(
    "path, field, longest, other_fields",
    [
        ("/api/auth/register", "name", 150, {"email": "a@example.com", "password": "s3cure-pass-word"}),
        ("/api/auth/register", "email", 254, {"name": "Ann", "password": "s3cure-pass-word"}),
        ("/api/auth/register", "password", 128, {"name": "Ann", "email": "a@example.com"}),
        ("/api/auth/login", "email", 254, {"password": "x"}),
        ("/api/auth/login", "password", 128, {"email": "a@example.com"}),  # refused before any hashing
        ("/api/auth/refresh", "refresh", 2048, {}),
        ("/api/auth/logout", "refresh", 2048, {}),
        ("/api/accounts", "currency", 3, {}),
        ("/api/transactions", "idempotencyKey", 255, {}),
        ("/api/transactions/{txn}/reverse", "reason", 500, {"idempotencyKey": "k"}),
    ],
)
def test_strings_have_an_upper_bound(system_client, system_user, path, field, longest, other_fields):
    value = ("a" * longest + "@example.com")[-(longest + 1) :] if field == "email" else "a" * (longest + 1)
    path = path.format(txn="00000000-0000-0000-0000-000000000000")

    response = system_client.post(path, {**other_fields, field: value}, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


@pytest.mark.parametrize("amount", ["1000000000.01", "9" * 32, "9" * 33, 10**40])
def test_amounts_have_an_upper_bound(system_client, account, amount):
    response = system_client.post(
        "/api/transactions/system/initial-funds",
        {"toAccount": str(account.id), "amount": amount, "idempotencyKey": "k"},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["amount"]
    assert not Transaction.objects.exists()


# --- accounts per user (issue 9, item 17) ---------------------------------------------------


def test_accounts_per_user_are_capped(settings, user, other_user):
    settings.MAX_ACCOUNTS_PER_USER = 3
    api = bearer_client(user)
    opened = [api.post("/api/accounts", {}, format="json").status_code for _ in range(3)]

    refused = api.post("/api/accounts", {"currency": "USD"}, format="json")

    assert opened == [201, 201, 201]
    assert refused.status_code == 409
    assert refused.json() == {"message": AccountLimitReachedError.message, "code": "account_limit_reached"}
    assert Account.objects.filter(owner=user).count() == 3
    # The cap is per user, and a closed account still counts (its row is still there).
    assert bearer_client(other_user).post("/api/accounts", {}, format="json").status_code == 201
    account_close(account_id=Account.objects.filter(owner=user).first().id)
    assert api.post("/api/accounts", {}, format="json").status_code == 409


@pytest.mark.django_db(transaction=True)
def test_concurrent_opens_cannot_exceed_the_cap(settings):
    """Twenty opens at once by one user, each on its own connection, against a cap of five: a
    count taken without the lock on the user's row lets several see room for "one more"."""
    settings.MAX_ACCOUNTS_PER_USER = 5
    owner = UserFactory()

    results, errors = run_concurrently([lambda: account_open(owner=owner)] * 20, workers=20)

    assert sum(result is not None for result in results) == 5
    assert [type(e) for e in errors if e is not None] == [AccountLimitReachedError] * 15
    assert Account.objects.filter(owner=owner).count() == 5
