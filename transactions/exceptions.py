from ledger_project.exceptions import ApplicationError, NotFoundError


class InvalidAccountError(ApplicationError):
    """fromAccount unknown or not the caller's, or toAccount unknown: one message for both."""

    status_code = 400
    code = "invalid_account"
    message = "Invalid account."


class SameAccountError(ApplicationError):
    """Both sides of a transfer are the same account."""

    status_code = 400
    code = "same_account"
    message = "fromAccount and toAccount must be different accounts."


class CurrencyMismatchError(ApplicationError):
    """The two accounts hold different currencies."""

    status_code = 400
    code = "currency_mismatch"
    message = "Both accounts must hold the same currency."


class InsufficientFundsError(ApplicationError):
    """The debited account's balance does not cover the amount."""

    status_code = 422
    code = "insufficient_funds"
    message = "Insufficient funds."


class AccountInactiveError(ApplicationError):
    """An account on either side is frozen or closed."""

    status_code = 422
    code = "account_inactive"
    message = "An account in this transaction is not active."


class AmountOutOfRangeError(ApplicationError):
    """A balance would leave the signed 64-bit range of minor units the ledger stores."""

    status_code = 422
    code = "amount_out_of_range"
    message = "This transaction would take a balance beyond what an account can hold."


class IdempotencyKeyReusedError(ApplicationError):
    """The key was already used by this user for a different request."""

    status_code = 422
    code = "idempotency_key_reused"
    message = "This idempotency key was already used for a different request."


class AlreadyReversedError(ApplicationError):
    """The transaction already has a completed reversal."""

    status_code = 409
    code = "already_reversed"
    message = "The transaction has already been reversed."


class NotReversibleError(ApplicationError):
    """Only COMPLETED transfers and fundings can be reversed."""

    status_code = 409
    code = "not_reversible"
    message = "Only completed transfers and fundings can be reversed."


class TransactionNotFoundError(NotFoundError):
    """No such transaction, or the caller owns neither side."""

    message = "Transaction not found."


class LimitExceededError(ApplicationError):
    """A limit an operator set on an account (transactions/limits.py) refuses the write."""

    status_code = 422
    code = "limit_exceeded"
    message = "This transaction would exceed a limit set on an account."


class BatchDeclinedError(ApplicationError):
    """An item of an atomic batch was declined, so none of them was applied."""

    status_code = 422
    code = "batch_declined"
    message = "A transfer of the batch was declined; none was applied."


class BatchNotFoundError(NotFoundError):
    """No such batch, or the caller did not send it."""

    message = "Batch not found."


# A FAILED transaction's failure_reason is the code of the decline that failed it.
DECLINES = {
    error.code: error
    for error in (InsufficientFundsError, AccountInactiveError, AmountOutOfRangeError, LimitExceededError)
}


class HoldNotFoundError(NotFoundError):
    """No such hold, or the caller may not see (or act on) it."""

    message = "Hold not found."


class HoldNotPendingError(ApplicationError):
    """The hold was already captured, voided, declined or has expired."""

    status_code = 409
    code = "hold_not_pending"
    message = "The hold is not pending."


class CaptureExceedsHoldError(ApplicationError):
    """A capture asked for more than the hold reserved."""

    status_code = 422
    code = "capture_exceeds_hold"
    message = "The capture's amount is larger than the hold's."
