import math
import re
import time
import uuid
from urllib.parse import unquote

import structlog
from django.conf import settings
from django.core.exceptions import RequestDataTooBig

from .exceptions import (
    InvalidInputError,
    LengthRequiredError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    error_response,
)

# What a proxy's request id may look like: nginx's $request_id is 32 hex digits, a UUID has dashes.
# Anything else (longer, or with characters a log reader might trip on) is replaced by our own.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{8,128}")
NUL_MESSAGE = "The path and query string must not contain NUL characters."


class NulCharacterMiddleware:
    """Refuse a NUL in the path or query string (raw or `%00`) with a JSON 400, before anything
    else reads them.

    PostgreSQL text cannot hold NUL, so psycopg refuses any query parameter that has one: an
    admin list filter or search (`?currency=%00`, `?q=%00`) was a 500. No route or parameter of
    ours has a use for it, so one check here spares every view its own.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or "\x00" in unquote(request.META.get("QUERY_STRING", "")):
            return error_response(InvalidInputError(NUL_MESSAGE))
        return self.get_response(request)


class RequestBodyLimitMiddleware:
    """Refuse a body larger than its route's limit with a JSON 413, and one without a length with
    a JSON 411, before any view.

    The limit is MAX_REQUEST_BODY_BYTES, or BATCH_MAX_REQUEST_BODY_BYTES for the batch route (1,000
    transfers must fit). A larger declared Content-Length is refused before a byte is read; Django
    reads exactly that many bytes, no more. DRF's parsers read the request as a stream and so would
    take a body of any size: reading `request.body` here keeps a body within the limit in memory
    for the parser (Django's own DATA_UPLOAD_MAX_MEMORY_SIZE, the larger limit, stays a backstop).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Django reads exactly Content-Length bytes of a body, so a chunked one (no length) would
        # reach the view as empty: "field required" for a body the client did send.
        if "HTTP_TRANSFER_ENCODING" in request.META:
            return error_response(LengthRequiredError())
        limit = settings.BATCH_MAX_REQUEST_BODY_BYTES if request.path == BATCH_PATH else settings.MAX_REQUEST_BODY_BYTES
        try:
            if _content_length(request) > limit:
                raise RequestDataTooBig()
            request.body  # noqa: B018  (the read is Django's own check too)
        except RequestDataTooBig:
            return error_response(PayloadTooLargeError())
        return self.get_response(request)


BATCH_PATH = "/api/transactions/batch"


def _content_length(request) -> int:
    # As Django reads it (WSGIRequest): anything unreadable is no body.
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class RequestQueueTimeoutMiddleware:
    """Answer 503 without running the view when the request already waited longer than
    REQUEST_QUEUE_TIMEOUT_MS between the proxy and this process (gunicorn's queue).

    A client gives up after a few seconds; a request that waited that long in the queue would
    still take a thread and perhaps a row lock for an answer nobody reads, while the requests
    behind it wait longer still. The proxy stamps `X-Request-Start: t=<seconds since the epoch>`
    as it hands the request on (deploy/nginx/); without a trusted proxy the header is the
    client's own and is ignored.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.TRUSTED_PROXY_COUNT > 0:
            waited_ms = request_queue_wait_ms(request.META.get("HTTP_X_REQUEST_START", ""))
            if waited_ms is not None and waited_ms > settings.REQUEST_QUEUE_TIMEOUT_MS:
                return error_response(ServiceUnavailableError(headers={"Retry-After": "1"}))
        return self.get_response(request)


def request_queue_wait_ms(header: str) -> float | None:
    """Milliseconds since the proxy's `t=<seconds>` stamp (nginx's $msec); None if there is no
    readable stamp, which is no reason to refuse a request."""
    try:
        started = float(header.removeprefix("t="))
    except ValueError:
        return None
    if not math.isfinite(started):
        return None
    return (time.time() - started) * 1000


class RequestIdMiddleware:
    """Give every request an id: on each of its log lines (ledger_project.logs) and in the
    `X-Request-Id` response header, so a client's report leads to the lines of its request.

    The id is the trusted proxy's X-Request-Id (nginx sends its own $request_id, replacing the
    client's) when there is one and it looks like an id; otherwise a new UUID. Without a trusted
    proxy the header is the client's own and is ignored: a client could otherwise give its
    requests another request's id, or write what it likes into every log line.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_of(request)
        # Threads serve one request after another: nothing of the previous one may stay bound.
        # Left bound after the response: Django logs a 4xx or 5xx once the middleware returned.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        response = self.get_response(request)
        response["X-Request-Id"] = request_id
        return response


def request_id_of(request) -> str:
    if settings.TRUSTED_PROXY_COUNT > 0:
        proposed = request.META.get("HTTP_X_REQUEST_ID", "")
        if REQUEST_ID_PATTERN.fullmatch(proposed):
            return proposed
    return uuid.uuid4().hex
