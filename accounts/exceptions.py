from ledger_project.exceptions import ApplicationError, NotFoundError


class AccountNotFoundError(NotFoundError):
    """No such account, or it belongs to someone else."""

    message = "Account not found."


class UnsupportedCurrencyError(ApplicationError):
    """The requested currency is not in SUPPORTED_CURRENCIES."""

    status_code = 400
    code = "validation_error"
    message = "Unsupported currency."


class AccountLimitReachedError(ApplicationError):
    """The owner already has MAX_ACCOUNTS_PER_USER accounts."""

    status_code = 409
    code = "account_limit_reached"
    message = "You have reached the maximum number of accounts."


class AccountNotEmptyError(ApplicationError):
    """An account can be closed only at a zero balance."""

    status_code = 409
    code = "account_not_empty"
    message = "The account can be closed only when its balance is zero."


class AccountStatusConflictError(ApplicationError):
    """The account's status does not allow this change (a closed account stays closed)."""

    status_code = 409
    code = "account_status_conflict"
    message = "The account's status does not allow this change."


class AccountHasOpenHoldsError(ApplicationError):
    """A PENDING hold on either side would be stranded by closing the account."""

    status_code = 409
    code = "account_has_open_holds"
    message = "The account has pending holds; capture or void them first."
