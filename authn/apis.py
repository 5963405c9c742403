from django.conf import settings
from django.middleware.csrf import get_token
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger_project.schema import error_responses
from ledger_project.throttling import ScopedRateThrottle

from . import serializers as s
from .exceptions import EmailTakenError, InvalidCredentialsError, TokenInvalidError
from .services import sessions_end, token_refresh, tokens_issue, user_create, user_login

LOGOUT_MESSAGE = "User logged out successfully"


def _with_auth_cookies(request, response, access):
    """The access token in an HttpOnly cookie that expires with it, and a CSRF cookie for the
    clients that authenticate with that cookie."""
    response.set_cookie(
        settings.AUTH_COOKIE_NAME,
        access,
        max_age=int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=settings.AUTH_COOKIE_SECURE,
    )
    get_token(request._request)  # CsrfViewMiddleware sets the csrftoken cookie on the way out
    return response


def _session_response(request, user, status_code):
    access, refresh = tokens_issue(user=user)
    body = s.SessionOutputSerializer({"user": user, "token": access, "refresh": refresh}).data
    return _with_auth_cookies(request, Response(body, status=status_code), access)


class PublicApi(APIView):
    """Reachable without a token; a stale cookie must not trip CSRF here."""

    authentication_classes = []
    permission_classes = [AllowAny]


class RegisterApi(PublicApi):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "register"

    @extend_schema(
        request=s.RegisterInputSerializer,
        responses={201: s.SessionOutputSerializer, **error_responses(EmailTakenError)},
    )
    def post(self, request):
        serializer = s.RegisterInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_create(**serializer.validated_data)
        return _session_response(request, user, status.HTTP_201_CREATED)


class LoginApi(PublicApi):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(
        request=s.LoginInputSerializer,
        responses={200: s.SessionOutputSerializer, **error_responses(InvalidCredentialsError)},
    )
    def post(self, request):
        serializer = s.LoginInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_login(**serializer.validated_data)
        return _session_response(request, user, status.HTTP_200_OK)


class RefreshApi(PublicApi):
    @extend_schema(
        request=s.RefreshInputSerializer,
        responses={200: s.TokenPairOutputSerializer, **error_responses(TokenInvalidError)},
    )
    def post(self, request):
        serializer = s.RefreshInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        access, refresh = token_refresh(raw_refresh=serializer.validated_data["refresh"])
        return _with_auth_cookies(request, Response({"token": access, "refresh": refresh}), access)


class LogoutApi(PublicApi):
    """Ends the login session of each token presented, so its refresh token dies with its access
    token even when the client sends only one. Always 200: logging out twice, or with a dead
    token, is not an error. Not CSRF-checked: a forged logout can only end the victim's own session."""

    @extend_schema(request=s.LogoutInputSerializer, responses={200: s.MessageOutputSerializer})
    def post(self, request):
        serializer = s.LogoutInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        header = request.headers.get("Authorization", "")
        bearer = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
        cookie = request.COOKIES.get(settings.AUTH_COOKIE_NAME, "")
        sessions_end(raw_tokens=[bearer, cookie, serializer.validated_data.get("refresh", "")])
        response = Response({"message": LOGOUT_MESSAGE})
        response.delete_cookie(settings.AUTH_COOKIE_NAME, samesite="Lax")
        return response


class MeApi(APIView):
    @extend_schema(responses={200: s.MeWrapperSerializer})
    def get(self, request):
        return Response(s.MeWrapperSerializer({"user": request.user}).data)
