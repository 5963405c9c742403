from datetime import datetime, timezone as dt_timezone

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken, Token, UntypedToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from notifications.services import email_enqueue

from .exceptions import EmailTakenError, InvalidCredentialsError, TokenInvalidError
from .models import BlacklistedToken, User, normalize_email

WELCOME_SUBJECT = "Welcome to Ledger"
WELCOME_BODY = "Hello {name},\n\nYour Ledger account is ready. You can now open accounts and move money.\n"


def user_create(*, email: str, name: str, password: str, is_system: bool = False) -> User:
    """Create a user and queue the welcome email in the same database transaction."""
    try:
        email = normalize_email(email)
    except DjangoValidationError as exc:
        raise DjangoValidationError({"email": exc.error_list}) from exc
    user = User(email=email, name=name, is_system=is_system)
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        # The validators raise without a field; name it, so the API answers errors.password.
        raise DjangoValidationError({"password": exc.error_list}) from exc
    user.set_password(password)  # hashing is slow on purpose; done before any transaction opens
    try:
        with transaction.atomic():
            user.save(force_insert=True)
            email_enqueue(to=email, subject=WELCOME_SUBJECT, body=WELCOME_BODY.format(name=name))
    except IntegrityError as exc:
        raise EmailTakenError() from exc
    return user


def user_login(*, email: str, password: str) -> User:
    """Check credentials. Unknown emails, in any spelling, still cost one password hash (Django's
    ModelBackend), so timing does not tell which emails are registered.

    The model backend directly, not django.contrib.auth.authenticate: that would also run
    django-axes, which guards the admin login and needs its request; this API has its own throttle."""
    user = ModelBackend().authenticate(None, email=email, password=password)
    if user is None:
        raise InvalidCredentialsError()
    return user


def tokens_issue(*, user: User) -> tuple[str, str]:
    """A fresh (access, refresh) pair."""
    refresh = RefreshToken.for_user(user)
    return str(refresh.access_token), str(refresh)


def token_refresh(*, raw_refresh: str) -> tuple[str, str]:
    """Rotate: the presented refresh token is blacklisted and a new pair is issued.

    Blacklisting is an insert under the primary key, so of two concurrent refreshes with the same
    token exactly one succeeds.
    """
    try:
        refresh = RefreshToken(raw_refresh)
    except TokenError as exc:
        raise TokenInvalidError() from exc
    user = token_user(token=refresh)
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(jti=refresh[jwt_settings.JTI_CLAIM], expires_at=_expiry(refresh))
    except IntegrityError as exc:
        raise TokenInvalidError() from exc
    return tokens_issue(user=user)


def token_user(*, token: Token) -> User:
    """The user a validated token speaks for, in one query.

    Refused (TokenInvalidError) when the token is blacklisted, the user is gone or inactive, or
    the password changed after the token was issued (simplejwt's revoke claim)."""
    blacklisted = BlacklistedToken.objects.filter(jti=token[jwt_settings.JTI_CLAIM])
    user = (
        User.objects.filter(id=token.get(jwt_settings.USER_ID_CLAIM), is_active=True)
        .annotate(token_blacklisted=Exists(blacklisted))
        .first()
    )
    if user is None or user.token_blacklisted:
        raise TokenInvalidError()
    if token.get(jwt_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
        raise TokenInvalidError()
    return user


def tokens_blacklist(*, raw_tokens: list[str]) -> int:
    """Blacklist every valid token among `raw_tokens` (access or refresh); ignore the rest.

    Used by logout, which must succeed whatever the client sends."""
    rows = []
    for raw in raw_tokens:
        if not raw:
            continue
        try:
            token = UntypedToken(raw)
        except TokenError:
            continue
        rows.append(BlacklistedToken(jti=token[jwt_settings.JTI_CLAIM], expires_at=_expiry(token)))
    BlacklistedToken.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def blacklist_purge_expired() -> int:
    """Delete rows whose token has expired anyway; returns how many."""
    deleted, _ = BlacklistedToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


def _expiry(token) -> datetime:
    return datetime.fromtimestamp(token["exp"], tz=dt_timezone.utc)
