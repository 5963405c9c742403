"""Every answer is JSON in the API.md error shape, whatever went wrong and wherever."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from authn.exceptions import CsrfFailedError, NotAuthenticatedError, TokenInvalidError
from ledger_project.exceptions import InvalidInputError, NotFoundError, error_response
from tests.conftest import bearer_client
from tests.factories import UserFactory
from transactions.audit import ledger_audit

NOT_FOUND = {"message": NotFoundError.message, "code": "not_found"}


@pytest.mark.parametrize("path", ["/api/nope", "/nope", "/", "/api/accounts/x/y", "/api/auth/login/", "/api"])
def test_unknown_routes_are_json_404(auth_client, path):
    response = auth_client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == NOT_FOUND


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unknown_routes_are_404_for_unsafe_methods_too(db, method):
    # A browser-like client: CSRF is enforced, and an unknown route must still be a 404, not a 403.
    response = getattr(APIClient(enforce_csrf_checks=True), method)("/api/nope", {}, format="json")

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


@pytest.mark.parametrize(
    "method, path",
    [("get", "/api/auth/login"), ("put", "/api/auth/register"), ("delete", "/api/accounts"), ("post", "/api/auth/me")],
)
def test_wrong_method_is_json_405(auth_client, method, path):
    response = getattr(auth_client, method)(path)

    assert response.status_code == 405
    assert response.json() == {"message": f'Method "{method.upper()}" not allowed.', "code": "method_not_allowed"}


@pytest.mark.parametrize("body", ['{"email": "a@example.com",', "not json", '{"email": NaN}'])
def test_malformed_json_is_400(client, db, body):
    response = client.post("/api/auth/login", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"message": "Malformed JSON body.", "code": "validation_error"}


@pytest.mark.parametrize("body", ["[]", '"ann@example.com"', "1"])
def test_a_body_that_is_not_an_object_is_400(client, db, body):
    response = client.post("/api/auth/login", body, content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert (body["code"], list(body["errors"])) == ("validation_error", ["nonFieldErrors"])


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_non_json_body_is_415(client, db, content_type):
    response = client.post("/api/auth/login", "email=a@example.com&password=x", content_type=content_type)

    assert response.status_code == 415
    assert response.json() == {
        "message": f'Unsupported media type "{content_type}" in request.',
        "code": "unsupported_media_type",
    }


@pytest.mark.parametrize(
    "headers, error",
    [({}, NotAuthenticatedError), ({"HTTP_AUTHORIZATION": "Bearer not-a-token"}, TokenInvalidError)],
)
def test_401s_name_the_bearer_scheme(client, db, headers, error):
    response = client.get("/api/auth/me", **headers)

    assert response.status_code == 401
    assert response.json() == {"message": error.message, "code": error.code}
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_django_csrf_failure_answers_like_the_api(db):
    # Django's own CSRF check (the admin login), not the API's: the same code, the same message.
    response = Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "a", "password": "b"})

    assert response.status_code == 403
    assert response.json() == {"message": CsrfFailedError.message, "code": "csrf_failed"}


def test_django_bad_request_answers_like_the_api(db):
    response = Client(HTTP_HOST="evil.example").get("/api/health")  # DisallowedHost: Django's 400

    assert response.status_code == 400
    assert response.json() == {"message": InvalidInputError.message, "code": "validation_error"}


def test_an_unexpected_exception_answers_as_a_server_error():
    response = error_response(RuntimeError("a bug"))

    assert response.status_code == 500
    assert response.content == b'{"message": "Internal server error.", "code": "server_error"}'


@pytest.fixture
def staff_client(db):
    return bearer_client(UserFactory(is_staff=True))


def test_health(client, staff_client):
    public, detailed = client.get("/api/health"), staff_client.get("/api/health")

    assert public.status_code == detailed.status_code == 200
    assert public.json() == {"status": "ok"}
    assert detailed.json() == {"status": "ok", "database": "ok", "redis": "ok", "lastAudit": None}


def test_health_shows_the_last_audit(staff_client):
    ledger_audit()
    newest = ledger_audit()

    last = staff_client.get("/api/health").json()["lastAudit"]

    assert last == {"at": newest.finished_at.isoformat().replace("+00:00", "Z"), "ok": True, "summary": newest.summary}


def test_health_reports_an_unreachable_redis(client, staff_client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    public, detailed = client.get("/api/health"), staff_client.get("/api/health")

    assert public.status_code == detailed.status_code == 503
    assert public.json() == {"status": "unavailable"}
    assert detailed.json() == {"status": "unavailable", "database": "ok", "redis": "unavailable", "lastAudit": None}


def test_openapi_schema(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/auth/register", "/api/accounts", "/api/accounts/balance/{account_id}"} <= set(schema["paths"])


def test_api_docs(client, db):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
