from ledger_project.exceptions import ApplicationError

# What DRF's own 401s carry (simplejwt's authenticate_header): the scheme to authenticate with.
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="api"'}


class EmailTakenError(ApplicationError):
    """Another user already registered this email."""

    status_code = 409
    code = "email_taken"
    message = "A user with this email already exists."


class InvalidCredentialsError(ApplicationError):
    """Unknown email or wrong password; deliberately the same error for both."""

    status_code = 401
    code = "invalid_credentials"
    message = "Invalid email or password."


class NotAuthenticatedError(ApplicationError):
    """No token on a request that needs one (DRF's NotAuthenticated)."""

    status_code = 401
    code = "not_authenticated"
    message = "Authentication credentials were not provided."
    headers = BEARER_CHALLENGE


class TokenInvalidError(ApplicationError):
    """A token that is malformed, expired, blacklisted or of the wrong type."""

    status_code = 401
    code = "token_invalid"
    message = "The token is invalid or expired."
    headers = BEARER_CHALLENGE


class CsrfFailedError(ApplicationError):
    """A cookie-authenticated unsafe request without a valid CSRF token."""

    status_code = 403
    code = "csrf_failed"
    message = "CSRF verification failed. Send the csrftoken cookie's value in X-CSRFToken."


class NotSystemUserError(ApplicationError):
    """The operation is reserved to system users."""

    status_code = 403
    code = "not_system_user"
    message = "Only system users may do this."


class AdminLoginLockedError(ApplicationError):
    """Too many failed admin logins from this address or for this account (django-axes)."""

    status_code = 429
    code = "throttled"
    message = "Too many failed logins. Try again later."


class UserInactiveError(ApplicationError):
    """The user is already inactive (an operator deactivating them again)."""

    status_code = 409
    code = "user_inactive"
    message = "The user is already inactive."
