"""Project-wide endpoints: health, and JSON answers where Django would otherwise render HTML."""

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from authn.exceptions import CsrfFailedError, TokenInvalidError
from transactions.selectors import ledger_audit_latest

from .exceptions import InvalidInputError, NotFoundError, ServerError, error_response
from .schema import error_responses


@csrf_exempt  # it changes nothing, and a POST to an unknown route must be a 404, not a CSRF 403
def not_found(request, exception=None, **kwargs):
    """Unknown routes (and malformed ids, which match no route) answer like unknown objects."""
    return error_response(NotFoundError())


def server_error(request):
    return error_response(ServerError())


def bad_request(request, exception=None):
    return error_response(InvalidInputError())


def csrf_failure(request, reason=""):
    return error_response(CsrfFailedError())


def _database_ok():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def _redis_ok():
    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1)
        return bool(client.ping())
    except redis.RedisError:
        return False


class LastAuditSerializer(serializers.Serializer):
    at = serializers.DateTimeField(source="finished_at")
    ok = serializers.BooleanField()
    summary = serializers.CharField()


class HealthOutputSerializer(serializers.Serializer):
    status = serializers.CharField()
    # The details: for staff and system users, or for everyone when HEALTH_DETAILS_PUBLIC is on.
    database = serializers.CharField(required=False)
    redis = serializers.CharField(required=False)
    lastAudit = LastAuditSerializer(
        allow_null=True, required=False, help_text="The newest verify_ledger run, null before the first."
    )


def _last_audit():
    try:
        return ledger_audit_latest()
    except DatabaseError:
        return None


def _shows_details(request, *, database_ok: bool) -> bool:
    """The audit's counts and offending ids are for operators: staff or system users, signed in
    the usual way (token or cookie), unless the deployment makes them public."""
    if settings.HEALTH_DETAILS_PUBLIC:
        return True
    # Who the caller is can only be read from the database; while it is down, nobody is staff.
    if not database_ok:
        return False
    user = request.user
    return user.is_authenticated and (user.is_staff or user.is_system)


class HealthApi(APIView):
    permission_classes = [AllowAny]

    def perform_authentication(self, request):
        """Lazy (DRF reads request.user on first use): a probe without credentials costs no
        query, and a down database still gets its 503 rather than an error from looking up the
        caller."""

    # A token that is sent must be valid (401 otherwise), as everywhere else; none is needed.
    @extend_schema(
        responses={200: HealthOutputSerializer, 503: HealthOutputSerializer, **error_responses(TokenInvalidError)}
    )
    def get(self, request):
        checks = {"database": _database_ok(), "redis": _redis_ok()}
        healthy = all(checks.values())
        body = {"status": "ok" if healthy else "unavailable"}
        if _shows_details(request, database_ok=checks["database"]):
            body.update({name: "ok" if ok else "unavailable" for name, ok in checks.items()})
            audit = _last_audit() if checks["database"] else None
            body["lastAudit"] = LastAuditSerializer(audit).data if audit else None
        return Response(body, status=200 if healthy else 503)


class SchemaApi(SpectacularAPIView):
    """The OpenAPI schema, always of the one version in SPECTACULAR_SETTINGS.

    drf-spectacular would read `?version=` from the client into `info.version` and into the
    Content-Disposition header, where a control character or CR/LF is a 500 from the server."""

    def _get_version_parameter(self, request):
        return None
