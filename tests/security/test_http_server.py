"""The HTTP attacks that only a real server shows, through gunicorn (tests/faults/processes.py)
on the suite's own database and Redis: a chunked body, a control character headed for a
response header, a NUL in the URL."""

import json
from http.client import HTTPConnection

import pytest

from authn.services import tokens_issue
from ledger_project.exceptions import LengthRequiredError
from ledger_project.middleware import NUL_MESSAGE
from tests.factories import AccountFactory, funded_account
from tests.faults.processes import web_service
from tests.transactions.requests import TRANSACTIONS, transfer_body
from tests.transactions.state import balances
from transactions.models import Transaction

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    with web_service() as client:
        yield client.port


def _request(port, method, path, *, body=None, token=None, chunked=False, accept="application/json"):
    """(status, headers, raw body). A chunked body is sent as http.client sends an iterable:
    `Transfer-Encoding: chunked` and no Content-Length."""
    headers = {"Content-Type": "application/json", "Accept": accept}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    payload = json.dumps(body).encode() if body is not None else None
    conn = HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            method, path, body=iter([payload]) if chunked else payload, headers=headers, encode_chunked=chunked
        )
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture
def accounts(user):
    return funded_account("100.00", owner=user), AccountFactory()


def test_a_chunked_transfer_is_411_and_writes_nothing(server, user, accounts):
    source, target = accounts
    token = tokens_issue(user=user)[0]

    status, headers, raw = _request(
        server, "POST", TRANSACTIONS, body=transfer_body(source, target), token=token, chunked=True
    )

    assert status == 411, raw
    assert headers["Content-Type"] == "application/json"
    assert json.loads(raw) == {"message": LengthRequiredError.message, "code": "length_required"}
    assert not Transaction.objects.filter(kind=Transaction.Kind.TRANSFER).exists()
    assert balances(source, target) == [100_00, 0]
    # The same body with its length goes through: the 411 is about the framing alone.
    assert _request(server, "POST", TRANSACTIONS, body=transfer_body(source, target), token=token)[0] == 201


def test_a_chunked_login_is_411(server):
    status, _, raw = _request(
        server, "POST", "/api/auth/login", body={"email": "a@example.com", "password": "x"}, chunked=True
    )

    assert status == 411, raw
    assert json.loads(raw)["code"] == "length_required"


@pytest.mark.parametrize("version", ["%01", "%0D%0ASet-Cookie:%20a=b", "%E2%80%A8"])
def test_the_schema_answers_whatever_version_is_asked(server, version):
    status, headers, raw = _request(
        server, "GET", f"/api/schema/?version={version}", accept="application/vnd.oai.openapi+json"
    )

    assert status == 200, raw
    assert headers["Content-Disposition"] == 'inline; filename="Ledger API.json"'
    assert "Set-Cookie" not in headers


@pytest.mark.parametrize("path", ["/api/transactions?status=%00", "/admin/authn/user/?email=%00", "/api/%00"])
def test_a_nul_in_the_url_is_a_json_400(server, user, path):
    status, _, raw = _request(server, "GET", path, token=tokens_issue(user=user)[0])

    assert status == 400, raw
    assert json.loads(raw) == {"message": NUL_MESSAGE, "code": "validation_error"}
