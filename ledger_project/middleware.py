import math
import time

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

from .exceptions import PayloadTooLargeError, ServiceUnavailableError


class RequestBodyLimitMiddleware:
    """Refuse a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE with a JSON 413, before any view.

    Django checks that limit only when `request.body` (or a form) is read; DRF's parsers read the
    request as a stream and so would take a body of any size. Reading `request.body` here applies
    the check to every route: a larger declared Content-Length is refused before a byte is read,
    and a body within the limit is kept in memory for the parser.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            request.body  # noqa: B018  (the read is the check)
        except RequestDataTooBig:
            error = PayloadTooLargeError()
            return JsonResponse(error.body(), status=error.status_code)
        return self.get_response(request)


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
                error = ServiceUnavailableError(headers={"Retry-After": "1"})
                return JsonResponse(error.body(), status=error.status_code, headers=error.headers)
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
