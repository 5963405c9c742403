"""The OpenAPI schema documents every answer of every operation, errors included.

Errors that follow from the shape of an operation (it reads a body or query parameters, needs a
token, has an id in its path, is throttled; and an Accept header without JSON, for any) are added
here, once, to every operation of that shape. The errors its services raise are declared on the
view: `error_responses(...)` in its `extend_schema(responses=...)`. Either way the body is the
API.md error shape.
"""

from collections import defaultdict

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated

from authn.exceptions import CsrfFailedError, NotAuthenticatedError, TokenInvalidError

from .exceptions import (
    InvalidInputError,
    LengthRequiredError,
    NotAcceptableError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    ThrottledError,
    UnsupportedMediaTypeError,
)

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}}


class ErrorSerializer(serializers.Serializer):
    """The API.md error body."""

    message = serializers.CharField(help_text="A sentence for people.")
    code = serializers.CharField(help_text="A stable identifier for programs (listed in each response).")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field validation errors: field name to messages.",
    )


def _error(error):
    """(status, code, message) of an ApplicationError subclass."""
    return error.status_code, error.code, error.message


def _describe(errors) -> str:
    return "\n".join(f"- `{code}`: {message}" for _, code, message in errors)


def error_responses(*errors, serializer=ErrorSerializer) -> dict:
    """`extend_schema(responses=...)` entries for the errors a view's services raise, by status."""
    by_status = defaultdict(list)
    for error in map(_error, errors):
        by_status[error[0]].append(error)
    return {
        status: OpenApiResponse(serializer, description=_describe(status_errors))
        for status, status_errors in by_status.items()
    }


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's AutoSchema, adding the errors every operation of a kind can answer."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status, errors in self._implied_errors().items():
            key = str(status)
            if key in responses:
                # The view declared this status for errors of its own (a 403 not_system_user):
                # add the implied codes to the description, keep the view's body.
                described = responses[key].get("description", "")
                responses[key]["description"] = "\n".join(filter(None, [described, _describe(errors)]))
            else:
                responses[key] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=_describe(errors)), key, direction=direction
                )
            if status in (429, 503):
                responses[key].setdefault("headers", {}).update(RETRY_AFTER)
        return dict(sorted(responses.items()))

    def _implied_errors(self) -> dict[int, list]:
        has_body = self.method in UNSAFE_METHODS
        has_query = any(p.get("in") == "query" for p in self._get_parameters())
        authenticated = any(isinstance(p, IsAuthenticated) for p in self.view.get_permissions())
        implied = []
        if has_body or has_query:
            implied.append(_error(InvalidInputError))
        if authenticated:
            implied += [_error(NotAuthenticatedError), _error(TokenInvalidError)]
            if has_body:
                implied.append(_error(CsrfFailedError))  # only when the token came in the cookie
        if "{" in self.path:
            implied.append(_error(NotFoundError))
        if has_body:
            implied += [_error(LengthRequiredError), _error(PayloadTooLargeError), _error(UnsupportedMediaTypeError)]
        implied.append(_error(NotAcceptableError))  # an Accept header that excludes JSON
        if self.view.get_throttles():
            implied.append(_error(ThrottledError))
        if authenticated or has_body:
            # Both reach the database, whose lock timeout or outage the handler answers with 503.
            implied.append(_error(ServiceUnavailableError))
        by_status = defaultdict(list)
        for error in implied:
            by_status[error[0]].append(error)
        return by_status
