from django.conf import settings
from rest_framework.authentication import CSRFCheck
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from ledger_project.db_retry import retry_while_lost

from .exceptions import CsrfFailedError, TokenInvalidError
from .services import token_user


class CookieOrBearerJWTAuthentication(JWTAuthentication):
    """An access JWT from `Authorization: Bearer` or, failing that, from the `token` cookie.

    A browser sends the cookie by itself, so cookie-authenticated unsafe requests must also pass
    Django's CSRF check; bearer requests cannot be forged cross-site and need none. Tokens in the
    query string are never read.
    """

    def authenticate(self, request):
        header = self.get_header(request)
        if header is not None:
            raw_token, from_cookie = self.get_raw_token(header), False
        else:
            raw_token, from_cookie = request.COOKIES.get(settings.AUTH_COOKIE_NAME), True
        if not raw_token:
            return None
        try:
            token = self.get_validated_token(raw_token)
        except InvalidToken as exc:
            raise TokenInvalidError() from exc
        # A write's first query: a connection lost here (a switchover) is retried, not a 503.
        user = retry_while_lost(lambda: token_user(token=token), what="authentication")
        if from_cookie:
            self._enforce_csrf(request)
        return user, token

    def _enforce_csrf(self, request):
        # The same check DRF's SessionAuthentication makes; safe methods pass through it.
        check = CSRFCheck(lambda req: None)
        check.process_request(request)
        if check.process_view(request, None, (), {}) is not None:
            raise CsrfFailedError()
