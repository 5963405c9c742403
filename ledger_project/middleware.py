from urllib.parse import unquote

from django.core.exceptions import RequestDataTooBig

from .exceptions import InvalidInputError, LengthRequiredError, PayloadTooLargeError, error_response

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
    """Refuse a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE with a JSON 413, and one without a
    length with a JSON 411, before any view.

    Django checks that limit only when `request.body` (or a form) is read; DRF's parsers read the
    request as a stream and so would take a body of any size. Reading `request.body` here applies
    the check to every route: a larger declared Content-Length is refused before a byte is read,
    and a body within the limit is kept in memory for the parser.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Django reads exactly Content-Length bytes of a body, so a chunked one (no length) would
        # reach the view as empty: "field required" for a body the client did send.
        if "HTTP_TRANSFER_ENCODING" in request.META:
            return error_response(LengthRequiredError())
        try:
            request.body  # noqa: B018  (the read is the check)
        except RequestDataTooBig:
            return error_response(PayloadTooLargeError())
        return self.get_response(request)
