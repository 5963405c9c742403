"""What the transaction endpoints should answer, built from the database."""

from accounts.models import Account
from accounts.money import format_minor
from transactions.models import Transaction


def iso(dt):
    """DRF's rendering of an aware UTC datetime."""
    return dt.isoformat().replace("+00:00", "Z")


def transaction_json(txn: Transaction, *, viewer) -> dict:
    """As `viewer` sees it: balances of its own accounts only, and the key only if it initiated."""
    txn = Transaction.objects.select_related("idempotency").get(id=txn.id)
    return {
        "id": str(txn.id),
        "kind": txn.kind,
        "fromAccount": str(txn.from_account_id),
        "toAccount": str(txn.to_account_id),
        "amount": format_minor(txn.amount, txn.currency),
        "currency": txn.currency,
        "status": txn.status,
        "idempotencyKey": txn.idempotency.key if txn.idempotency_id and txn.initiator_id == viewer.id else None,
        "failureReason": txn.failure_reason or None,
        "reverses": str(txn.reverses_id) if txn.reverses_id else None,
        "hold": str(txn.hold_id) if txn.hold_id else None,
        "batch": str(txn.batch_id) if txn.batch_id else None,
        "createdAt": iso(txn.created_at),
        "updatedAt": iso(txn.updated_at),
        "entries": [
            {
                "account": str(entry.account_id),
                "type": entry.type,
                "amount": format_minor(entry.amount, txn.currency),
                "balanceAfter": format_minor(entry.balance_after, txn.currency)
                if entry.account.owner_id == viewer.id
                else None,
            }
            for entry in txn.entries.select_related("account").order_by("id")
        ],
        "metadata": txn.metadata if txn.initiator_id == viewer.id else None,
    }


def decline_json(error, txn: Transaction, *, viewer, details=None) -> dict:
    """A 422 decline: the error's message and code, the FAILED transaction it stored, and the
    details about the caller's own account where there are any."""
    body = {"message": error.message, "code": error.code, "transaction": transaction_json(txn, viewer=viewer)}
    return {**body, "details": details} if details else body


def balances_json(*accounts) -> dict:
    """The `balances` of a write's answer for these accounts (the caller's own), read fresh."""
    fresh = [Account.objects.get(id=account.id) for account in accounts]
    return {
        str(account.id): {
            "balance": format_minor(account.balance, account.currency),
            "held": format_minor(account.held, account.currency),
            "available": format_minor(account.balance - account.held, account.currency),
        }
        for account in fresh
    }
