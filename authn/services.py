import secrets
import uuid
from datetime import UTC, datetime

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken, Token, UntypedToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts.services import funding_accounts_ensure
from ledger_project.rows import model_rows
from notifications.services import email_enqueue

from .exceptions import EmailTakenError, InvalidCredentialsError, TokenInvalidError, UserInactiveError
from .models import BlacklistedToken, User, normalize_email

# The login session a token belongs to; it survives refresh rotation (see tokens_issue).
SESSION_CLAIM = "sid"
TOKEN_ID_MAX_LENGTH = BlacklistedToken._meta.get_field("jti").max_length

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


def user_deactivate(*, user_id) -> User:
    """The end of a user who may not be deleted (authn.selectors.user_is_kept): inactive users
    cannot log in, every token of theirs is refused (token_user) and their admin sessions end at
    the next request (Django's ModelBackend); their accounts, transactions and trail stay."""
    with transaction.atomic():
        user = User.objects.select_for_update(no_key=True).get(id=user_id)
        if not user.is_active:
            raise UserInactiveError()
        user.is_active = False
        user.save(update_fields=["is_active"])
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


def tokens_issue(*, user: User, session: str | None = None) -> tuple[str, str]:
    """A fresh (access, refresh) pair of one login session: both carry its id in `sid`, a new
    one unless `session` continues an existing session, so that logout can end it whole."""
    refresh = RefreshToken.for_user(user)
    refresh[SESSION_CLAIM] = session or uuid.uuid4().hex  # copied into the access token
    return str(refresh.access_token), str(refresh)


def token_refresh(*, raw_refresh: str) -> tuple[str, str]:
    """Rotate: the presented refresh token is blacklisted and a new pair of the same session is
    issued.

    Blacklisting is an insert under the primary key, so of two concurrent refreshes with the same
    token exactly one succeeds.
    """
    try:
        refresh = RefreshToken(raw_refresh)
    except TokenError as exc:
        raise TokenInvalidError() from exc
    user = token_user(token=refresh)
    _, token_id, session = _token_ids(refresh)
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(jti=token_id, expires_at=_expiry(refresh))
    except IntegrityError as exc:
        raise TokenInvalidError() from exc
    return tokens_issue(user=user, session=session)


# Every authenticated request runs this: one primary-key lookup of the user with, inside it, one
# of both token ids in the blacklist. Plain SQL because building the same query with the ORM
# (filter + annotate(Exists)) cost more Python time than the query took (issue 11's profile).
TOKEN_USER_SQL = f"""
    SELECT *, EXISTS (SELECT 1 FROM {BlacklistedToken._meta.db_table} WHERE jti IN (%s, %s)) AS token_blacklisted
    FROM {User._meta.db_table} WHERE id = %s AND is_active
"""


def token_user(*, token: Token) -> User:
    """The user a validated token speaks for, in one query.

    Refused (TokenInvalidError) when the token or its session is blacklisted, the user is gone or
    inactive, or the password changed after the token was issued (simplejwt's revoke claim)."""
    user_id, token_id, session = _token_ids(token)
    user = next(iter(model_rows(User, TOKEN_USER_SQL, [token_id, session, user_id])), None)
    if user is None or user.token_blacklisted:
        raise TokenInvalidError()
    if token.get(jwt_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
        raise TokenInvalidError()
    return user


def sessions_end(*, raw_tokens: list[str]) -> int:
    """Blacklist the session of every valid token among `raw_tokens` (access or refresh), which
    refuses every access and refresh token issued to it; ignore the rest. Returns how many.

    Used by logout, which must succeed whatever the client sends."""
    # The newest refresh token of a session is at most this old: the row outlives every token.
    expires_at = timezone.now() + jwt_settings.REFRESH_TOKEN_LIFETIME
    sessions = set()
    for raw in raw_tokens:
        if not raw:
            continue
        try:
            sessions.add(_token_ids(UntypedToken(raw))[2])
        except (TokenError, TokenInvalidError):
            continue
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(jti=session, expires_at=expires_at) for session in sessions], ignore_conflicts=True
    )
    return len(sessions)


def blacklist_purge_expired() -> int:
    """Delete rows whose token has expired anyway; returns how many."""
    deleted, _ = BlacklistedToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


def _token_ids(token: Token) -> tuple[uuid.UUID, str, str]:
    """The user id, token id and session id of a token whose signature was verified.

    TokenInvalidError unless each can be looked up: only a holder of the signing key can write
    these claims, but a NUL or an id longer than the blacklist's column would fail in PostgreSQL."""
    token_id, session = token.get(jwt_settings.JTI_CLAIM), token.get(SESSION_CLAIM)
    if not (_storable_id(token_id) and _storable_id(session)):
        raise TokenInvalidError()
    try:
        return uuid.UUID(str(token.get(jwt_settings.USER_ID_CLAIM))), token_id, session
    except ValueError as exc:
        raise TokenInvalidError() from exc


def _storable_id(value) -> bool:
    return isinstance(value, str) and 0 < len(value) <= TOKEN_ID_MAX_LENGTH and value.isascii() and value.isprintable()


def _expiry(token) -> datetime:
    return datetime.fromtimestamp(token["exp"], tz=UTC)


def system_user_ensure(*, email: str, name: str, password: str | None = None) -> tuple[User, bool, str | None]:
    """Create or update a system user and its funding accounts; idempotent.

    Returns (user, created, generated_password). An existing user's password changes only when
    one is given; a new user without one gets a random password, returned once.
    """
    generated = None
    user = User.objects.filter(email=normalize_email(email)).first()
    created = user is None
    if created:
        if not password:
            password = generated = secrets.token_urlsafe(18)
        user = user_create(email=email, name=name, password=password, is_system=True)
    with transaction.atomic():
        if not created:
            user.is_system = True
            if password:
                validate_password(password, user)
                user.set_password(password)
            user.save()
        funding_accounts_ensure(owner=user)
    return user, created, generated
