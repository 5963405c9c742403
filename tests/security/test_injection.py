"""Injection: header-injection payloads are refused, other metacharacters are stored exactly as
written and do nothing, and every email the service then sends goes out, once, to one address."""

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

from accounts.models import Account
from authn.models import User
from ledger_project.middleware import NUL_MESSAGE
from notifications import tasks
from notifications.models import OutboxEmail
from tests.conftest import bearer_client
from tests.factories import AccountFactory, UserFactory, account_fund, funded_account
from transactions.models import Transaction

REGISTER = "/api/auth/register"
PASSWORD = "s3cure-pass-word"


def _register(client, name, email):
    return client.post(REGISTER, {"name": name, "email": email, "password": PASSWORD}, format="json")


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", "Ann\r\nBcc: victim@example.com"),
        ("name", "Ann\nSubject: You have won"),
        ("name", "Ann\x00"),
        ("email", "ann@example.com\r\nBcc: victim@example.com"),
        ("email", "ann@example.com\nBcc:victim@example.com"),
        # Valid to Django's EmailValidator; the first becomes a header of its own in the message,
        # the second cannot be IDNA-encoded: either way the welcome email could never be sent.
        ("email", '"ann\x0bBcc:victim@example.com"@example.com'),
        ("email", "ann@" + "ä" * 60 + ".com"),
    ],
    ids=[
        "name-crlf-bcc",
        "name-lf-subject",
        "name-nul",
        "email-crlf-bcc",
        "email-lf-bcc",
        "email-vt-in-quotes",
        "email-idna-too-long",
    ],
)
def test_header_injection_in_a_name_or_email_is_refused(client, db, field, value):
    fields = {"name": "Ann", "email": "ann@example.com", field: value}

    response = _register(client, **fields)

    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == [field]
    assert not User.objects.exists() and not OutboxEmail.objects.exists()


INERT = [
    ("Robert'); DROP TABLE authn_user;--", "bobby+tables@example.com"),
    ('O\'Brien "Bob" <script>alert(1)</script>', "o'brien@example.com"),
    ("=?utf-8?b?QmNjOiB2aWN0aW1AZXhhbXBsZS5jb20=?=", "encoded.word@example.com"),  # "Bcc: victim@..."
    ("Ann%0d%0aBcc: victim@example.com", "ann%0d%0a@example.com"),
    ("Ann\u2028Bcc: victim@example.com\u0085Cc: x@example.com", "ann@exämple.com"),
    ("{{7*7}} ${jndi:ldap://example.com/a} 名前 ☃", "{{7*7}}@example.com"),
]


def _send_every_email():
    """Run the send task for every outbox row, as the worker would."""
    return [tasks.outbox_email_send(row.id) for row in OutboxEmail.objects.order_by("id")]


@pytest.mark.parametrize("name, email", INERT)
def test_metacharacters_are_stored_as_written_and_mailed_safely(client, db, name, email):
    response = _register(client, name, email)

    assert response.status_code == 201, response.content
    user = User.objects.get()
    assert (user.name, user.email) == (name, email.lower())
    assert bearer_client(user).get("/api/auth/me").json()["user"]["name"] == name
    account_fund(AccountFactory(owner=user), "10.00")  # a funding email, with the name in its body
    assert _send_every_email() == [1, 1]
    for message in mail.outbox:
        assert message.recipients() == [email.lower()]
        headers = message.message().as_string().split("\n\n", 1)[0].lower()
        assert headers.count("\nto:") == 1 and "\nbcc:" not in headers and "\ncc:" not in headers


@pytest.mark.parametrize(
    "path",
    [
        "/api/transactions?status=COMPLETED' OR '1'='1",
        "/api/transactions?account=' OR 1=1--",
        "/api/transactions?limit=1;DROP TABLE accounts_account",
        "/api/transactions?cursor=' OR 1=1--",
        "/api/accounts/{account}/entries?limit=50 UNION SELECT password FROM authn_user",
        "/api/accounts/{account}/entries?cursor=cD0xIE9SIDE9MQ==",  # base64 of "p=1 OR 1=1"
    ],
)
def test_sql_in_query_parameters_is_refused(user, path):
    account = funded_account("10.00", owner=user)

    response = bearer_client(user).get(path.format(account=account.id))

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize("path", ["/api/accounts/1' OR '1'='1", "/api/transactions/' UNION SELECT 1--"])
def test_sql_in_a_path_is_an_unknown_route(auth_client, path):
    assert auth_client.get(path).status_code == 404


def test_sql_in_login_is_just_a_wrong_password(client, user):
    body = {"email": "' OR '1'='1' --", "password": "' OR '1'='1"}

    response = client.post("/api/auth/login", body, format="json")

    assert response.status_code == 401
    assert User.objects.count() == 1


def test_an_idempotency_key_full_of_sql_is_just_a_key(auth_client, user):
    source = funded_account("100.00", owner=user)
    key = "k'; DROP TABLE transactions_transaction; --"
    body = {"fromAccount": str(source.id), "toAccount": str(AccountFactory().id), "amount": "1", "idempotencyKey": key}

    first = auth_client.post("/api/transactions", body, format="json")
    again = auth_client.post("/api/transactions", body, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["transaction"]["idempotencyKey"] == key
    assert Transaction.objects.filter(kind="TRANSFER").count() == 1
    assert Account.objects.get(id=source.id).balance == 99_00


@pytest.mark.parametrize(
    "key",
    ["a\tb", "\tkey", "a\x00b", "a\x1b[31mb", "a\x7fb", "k" * 256, ""],
    ids=["tab", "leading-tab", "nul", "escape", "del", "256-chars", "empty"],
)
@pytest.mark.parametrize("path", ["/api/transactions", "/api/transactions/system/initial-funds"])
def test_the_idempotency_key_header_is_held_to_the_body_keys_rules(system_user, path, key):
    target = AccountFactory()
    source = funded_account("10.00", owner=system_user)
    body = {"fromAccount": str(source.id), "toAccount": str(target.id), "amount": "1"}
    client = bearer_client(system_user)

    in_body = client.post(path, {**body, "idempotencyKey": key}, format="json")
    in_header = client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert (in_body.status_code, in_header.status_code) == (400, 400), in_header.content
    assert in_header.json() == in_body.json()
    assert list(in_header.json()["errors"]) == ["idempotencyKey"]
    assert not Transaction.objects.exclude(idempotency__key__startswith="test-funding:").exists()


@pytest.mark.parametrize(
    "version", ["\x01", "\r\nSet-Cookie: session=stolen", "\u2028", "\x7f", "2.0", "../../etc/passwd"]
)
def test_the_schema_version_is_not_the_clients(client, db, version):
    response = client.get("/api/schema/", {"version": version}, HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'inline; filename="Ledger API.json"'
    assert response.json()["info"]["version"] == settings.SPECTACULAR_SETTINGS["VERSION"]


NUL_REFUSED = {"message": NUL_MESSAGE, "code": "validation_error"}


@pytest.mark.parametrize(
    "path",
    [
        "/admin/accounts/account/?currency=%00",
        "/admin/accounts/account/?status__exact=%00",
        "/admin/authn/user/?email=%00",
        "/admin/accounts/account/?q=ann%00",
        "/admin/transactions/transaction/?o=%00",
        "/admin/accounts/account/%00/change/",
        "/admin/authn/user/?email=\x00",
    ],
)
def test_a_nul_in_an_admin_url_is_400(db, path):
    staff = Client()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = staff.get(path)

    assert response.status_code == 400, response.content
    assert response.json() == NUL_REFUSED


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/transactions?status=%00"),
        ("get", "/api/transactions?account=%00"),
        ("get", "/api/accounts/{account}/entries?cursor=%00"),
        ("get", "/api/accounts/%00"),
        ("get", "/api/accounts/{account}%00"),
        ("get", "/api/schema/?version=%00"),
        ("get", "/static/%00"),
        ("get", "/api/accounts?x=\x00"),
        ("post", "/api/transactions?%00"),
        ("post", "/api/accounts?currency=%00"),
    ],
)
def test_a_nul_in_an_api_url_is_400_and_changes_nothing(auth_client, user, method, path):
    account = funded_account("10.00", owner=user)
    accounts, transactions = Account.objects.count(), Transaction.objects.count()
    body = {"fromAccount": str(account.id), "toAccount": str(AccountFactory().id), "amount": "1", "idempotencyKey": "k"}

    path = path.format(account=account.id)
    response = auth_client.post(path, body, format="json") if method == "post" else auth_client.get(path)

    assert response.status_code == 400, response.content
    assert response.json() == NUL_REFUSED
    assert (Account.objects.count() - 1, Transaction.objects.count()) == (accounts, transactions)
