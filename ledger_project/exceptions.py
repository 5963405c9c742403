"""The one error hierarchy and the one handler that turns every error into the API.md body.

Body: {"message": <sentence>, "code": <stable identifier>} plus "errors" for field validation
and whatever an ApplicationError adds (a declined transaction, for instance).
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

from .db_retry import connection_lost

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """An error a client can cause; apps subclass it with their own status, code and message."""

    status_code = 400
    code = "error"
    message = "The request could not be processed."

    headers: dict = {}  # a subclass's headers on every answer (WWW-Authenticate on a 401)

    def __init__(self, message=None, *, errors=None, extra=None, headers=None):
        self.message = message or self.message
        self.errors = errors
        self.extra = extra or {}
        self.headers = {**self.headers, **(headers or {})}
        super().__init__(self.message)

    def body(self):
        body = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return {**body, **self.extra}


class InvalidInputError(ApplicationError):
    """The request body or parameters failed validation."""

    status_code = 400
    code = "validation_error"
    message = "Invalid input."


class MalformedJsonError(InvalidInputError):
    """The request body is not JSON (ledger_project.parsers)."""

    message = "Malformed JSON body."


class NotFoundError(ApplicationError):
    """The route or object does not exist, or the caller may not see it."""

    status_code = 404
    code = "not_found"
    message = "Not found."


class PayloadTooLargeError(ApplicationError):
    """The request body is larger than its route's limit (ledger_project.middleware)."""

    status_code = 413
    code = "payload_too_large"
    message = "The request body is too large."


class LengthRequiredError(ApplicationError):
    """A body sent without Content-Length (chunked), which Django's WSGI request would read as
    empty (ledger_project.middleware)."""

    status_code = 411
    code = "length_required"
    message = "Send the request body with a Content-Length header; chunked bodies are not accepted."


class PermissionDeniedError(ApplicationError):
    """The caller may not do this (DRF's and Django's PermissionDenied)."""

    status_code = 403
    code = "permission_denied"
    message = "You do not have permission to do this."


class MethodNotAllowedError(ApplicationError):
    """The route exists but not for this method; DRF's sentence names the method."""

    status_code = 405
    code = "method_not_allowed"
    message = 'Method "{method}" not allowed.'


class NotAcceptableError(ApplicationError):
    """The Accept header excludes JSON, the only thing we answer."""

    status_code = 406
    code = "not_acceptable"
    message = "Could not satisfy the request Accept header."


class UnsupportedMediaTypeError(ApplicationError):
    """The body is not JSON by its Content-Type; DRF's sentence names the type."""

    status_code = 415
    code = "unsupported_media_type"
    message = 'Unsupported media type "{media_type}" in request.'


class ThrottledError(ApplicationError):
    """A rate limit was hit; DRF's sentence says how long to wait, and so does Retry-After."""

    status_code = 429
    code = "throttled"
    message = "Request was throttled."


class UriTooLongError(ApplicationError):
    """gunicorn refused the request line as too long (deploy/gunicorn.conf.py)."""

    status_code = 414
    code = "uri_too_long"
    message = "The request URI is too long."


class HeadersTooLargeError(ApplicationError):
    """gunicorn refused a header line, or the number of them (deploy/gunicorn.conf.py)."""

    status_code = 431
    code = "headers_too_large"
    message = "The request headers are too large."


class TransferCodingNotImplementedError(ApplicationError):
    """gunicorn does not decode this Transfer-Encoding (deploy/gunicorn.conf.py)."""

    status_code = 501
    code = "not_implemented"
    message = "The request uses a transfer coding this server does not support."


class ServerError(ApplicationError):
    """A bug of ours (Django's handler500): the client cannot cause it, only report it."""

    status_code = 500
    code = "server_error"
    message = "Internal server error."


class ServiceUnavailableError(ApplicationError):
    """A dependency (database, broker) did not answer in time; the request may be retried."""

    status_code = 503
    code = "service_unavailable"
    message = "The service is temporarily unavailable. Retry later."


class DatabaseConnectionLostError(ServiceUnavailableError):
    """The database connection broke, or no server took it (ledger_project.db_retry): the same
    answer, marked on the response so that a GET can be run again on a new connection."""

    connection_lost = True


def error_response(exc: Exception, response_class=JsonResponse):
    """The one exit for errors (Zulip's json_response_from_error): every error page, middleware
    refusal and the DRF handler answer through here. Outside DRF a JsonResponse; the handler
    passes DRF's Response so that content negotiation still runs."""
    error = application_error(exc) or ServerError()
    response = response_class(error.body(), status=error.status_code, headers=error.headers)
    # Read by DbReadRetryMiddleware (ledger_project.db_retry), never sent.
    response.db_connection_lost = getattr(error, "connection_lost", False)
    return response


def error_text(exc: ApplicationError) -> str:
    """An application error as one line for people outside the API: management commands
    (`command_error`) and admin actions' messages."""
    details = "; ".join(f"{field}: {' '.join(map(str, msgs))}" for field, msgs in (exc.errors or {}).items())
    return f"{exc.message} {details}".strip()


def command_error(exc: ApplicationError):
    """A management command's CommandError for an application error, its code first."""
    from django.core.management.base import CommandError  # management is no import of the web app

    return CommandError(f"{exc.code}: {error_text(exc)}")


def _drf_errors():
    """DRF's own exceptions, by class, to ours; subclasses first. The flag keeps DRF's sentence,
    which names the method, media type or wait."""
    # Imported here: authn.exceptions subclasses ApplicationError from this module.
    from authn.exceptions import NotAuthenticatedError, TokenInvalidError

    return [
        (drf.ParseError, MalformedJsonError, False),
        (drf.ValidationError, InvalidInputError, False),
        (drf.NotAuthenticated, NotAuthenticatedError, False),
        (drf.AuthenticationFailed, TokenInvalidError, False),
        (drf.PermissionDenied, PermissionDeniedError, False),
        (drf.NotFound, NotFoundError, False),
        (drf.MethodNotAllowed, MethodNotAllowedError, True),
        (drf.NotAcceptable, NotAcceptableError, True),
        (drf.UnsupportedMediaType, UnsupportedMediaTypeError, True),
        (drf.Throttled, ThrottledError, True),
    ]


def _from_drf(exc: drf.APIException) -> ApplicationError:
    error_class, keeps_detail = next(
        ((error, keeps) for drf_class, error, keeps in _drf_errors() if isinstance(exc, drf_class)),
        (ApplicationError, True),
    )
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    errors = None
    if isinstance(exc, drf.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"nonFieldErrors": exc.detail}
    error = error_class(_detail_text(exc.detail) if keeps_detail else None, errors=errors, headers=headers)
    # DRF answers 403 instead of 401 when no authenticator can name a scheme for WWW-Authenticate.
    error.status_code = exc.status_code
    return error


def application_error(exc: Exception) -> ApplicationError | None:
    """The application error a raised exception answers as; None for a bug of ours."""
    if isinstance(exc, ApplicationError):
        return exc
    if isinstance(exc, DatabaseError) and connection_lost(exc):
        # Past the in-request retries (db_retry): the connection broke, the server went away or
        # none accepts writes yet (25006 from a demoted primary would otherwise be a 500).
        logger.warning("database connection lost: %s", exc)
        return DatabaseConnectionLostError(headers={"Retry-After": "1"})
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database went away mid-request (a killed backend, a restart) or a lock wait hit
        # lock_timeout. The write rolled back, unless the connection died during its COMMIT,
        # which nobody can tell from here: the outcome is unknown, and a retry with the same
        # idempotency key settles it (it replays a stored outcome or writes exactly once).
        logger.warning("database unavailable: %s", exc)
        return ServiceUnavailableError(headers={"Retry-After": "1"})
    if isinstance(exc, Http404):
        return NotFoundError()
    if isinstance(exc, DjangoPermissionDenied):
        return PermissionDeniedError()
    if isinstance(exc, DjangoValidationError):
        exc = drf.ValidationError(as_serializer_error(exc))
    if isinstance(exc, drf.APIException):
        return _from_drf(exc)
    return None


def api_exception_handler(exc, context):
    # Imported here: rest_framework.views loads the authentication classes, which import this module.
    from rest_framework.views import set_rollback

    error = application_error(exc)
    if error is None:
        return None  # a bug of ours: Django's handler500 answers with JSON
    set_rollback()
    return error_response(error, response_class=Response)


def _detail_text(detail):
    if isinstance(detail, (list, tuple)) and detail:
        return str(detail[0])
    return str(detail)
