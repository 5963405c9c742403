"""The one error hierarchy and the one handler that turns every error into the API.md body.

Body: {"message": <sentence>, "code": <stable identifier>} plus "errors" for field validation
and whatever an ApplicationError adds (a declined transaction, for instance).
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """An error a client can cause; apps subclass it with their own status, code and message."""

    status_code = 400
    code = "error"
    message = "The request could not be processed."

    def __init__(self, message=None, *, errors=None, extra=None, headers=None):
        self.message = message or self.message
        self.errors = errors
        self.extra = extra or {}
        self.headers = headers or {}
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


class NotFoundError(ApplicationError):
    """The route or object does not exist, or the caller may not see it."""

    status_code = 404
    code = "not_found"
    message = "Not found."


class PayloadTooLargeError(ApplicationError):
    """The request body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE (ledger_project.middleware)."""

    status_code = 413
    code = "payload_too_large"
    message = "The request body is too large."


class LengthRequiredError(ApplicationError):
    """A body sent without Content-Length (chunked), which Django's WSGI request would read as
    empty (ledger_project.middleware)."""

    status_code = 411
    code = "length_required"
    message = "Send the request body with a Content-Length header; chunked bodies are not accepted."


class ServiceUnavailableError(ApplicationError):
    """A dependency (database, broker) did not answer in time; the request may be retried."""

    status_code = 503
    code = "service_unavailable"
    message = "The service is temporarily unavailable. Retry later."


def error_response(error: ApplicationError) -> JsonResponse:
    """The error body outside DRF's views, where the handler below does not run (middleware)."""
    return JsonResponse(error.body(), status=error.status_code, headers=error.headers)


# DRF's own exceptions, by class, to the API.md code. Order matters: subclasses first.
DRF_CODES = [
    (drf.ParseError, "validation_error", "Malformed JSON body."),
    (drf.ValidationError, "validation_error", "Invalid input."),
    (drf.NotAuthenticated, "not_authenticated", "Authentication credentials were not provided."),
    (drf.AuthenticationFailed, "token_invalid", "The token is invalid or expired."),
    (drf.PermissionDenied, "permission_denied", "You do not have permission to do this."),
    (drf.NotFound, "not_found", "Not found."),
    (drf.MethodNotAllowed, "method_not_allowed", None),
    (drf.NotAcceptable, "not_acceptable", None),
    (drf.UnsupportedMediaType, "unsupported_media_type", None),
    (drf.Throttled, "throttled", None),
]


def api_exception_handler(exc, context):
    # Imported here: rest_framework.views loads the authentication classes, which import this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database went away mid-request (a killed backend, a restart) or a lock wait hit
        # lock_timeout. The write rolled back, unless the connection died during its COMMIT,
        # which nobody can tell from here: the outcome is unknown, and a retry with the same
        # idempotency key settles it (it replays a stored outcome or writes exactly once).
        logger.warning("database unavailable: %s", exc)
        exc = ServiceUnavailableError(headers={"Retry-After": "1"})
    if isinstance(exc, ApplicationError):
        return Response(exc.body(), status=exc.status_code, headers=exc.headers)

    if isinstance(exc, DjangoValidationError):
        exc = drf.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()

    # DRF's handler sets the headers that matter (WWW-Authenticate, Retry-After); we reshape the body.
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug of ours: Django's handler500 answers with JSON
    for exc_class, code, message in DRF_CODES:
        if isinstance(exc, exc_class):
            break
    else:
        code, message = "error", None
    body = {"message": message or _detail_text(exc.detail), "code": code}
    if isinstance(exc, drf.ValidationError):
        body["errors"] = exc.detail if isinstance(exc.detail, dict) else {"nonFieldErrors": exc.detail}
    response.data = body
    return response


def _detail_text(detail):
    if isinstance(detail, (list, tuple)) and detail:
        return str(detail[0])
    return str(detail)
