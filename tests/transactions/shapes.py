"""What the transaction endpoints should answer, built from the database, and ledger checks
shared by the transaction tests."""

from accounts.money import format_minor
from accounts.models import Account
from notifications.models import OutboxEmail
from transactions.audit import ledger_verify
from transactions.models import Transaction

TRANSACTIONS = "/api/transactions"
FUNDING = "/api/transactions/system/initial-funds"


def reverse_url(transaction_id):
    return f"/api/transactions/{transaction_id}/reverse"


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
        "idempotencyKey": txn.idempotency.key if txn.initiator_id == viewer.id else None,
        "failureReason": txn.failure_reason or None,
        "reverses": str(txn.reverses_id) if txn.reverses_id else None,
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
    }


def transfer_body(source, target, amount="40.00", key="key-1"):
    return {"fromAccount": str(source.id), "toAccount": str(target.id), "amount": amount, "idempotencyKey": key}


def outbox_mark() -> int:
    """The newest outbox row's id now; rows written later have larger ids."""
    newest = OutboxEmail.objects.order_by("-id").first()
    return newest.id if newest else 0


def outbox_since(mark: int) -> list[OutboxEmail]:
    return list(OutboxEmail.objects.filter(id__gt=mark).order_by("id"))


def assert_ledger_ok():
    report = ledger_verify()
    assert report.ok, report.summary()


def balances(*accounts):
    """Current balances (minor units), read fresh from the database."""
    return [Account.objects.get(id=account.id).balance for account in accounts]


def transfers():
    return Transaction.objects.filter(kind=Transaction.Kind.TRANSFER)
