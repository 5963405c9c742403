from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

from .exceptions import PayloadTooLargeError


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
