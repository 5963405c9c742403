"""The emails a ledger write sends: their text, and their outbox rows."""

from accounts.money import format_minor
from transactions.models import Hold, Transaction

from .models import OutboxEmail
from .services import outbox_rows_enqueue

Kind = Transaction.Kind

EMAIL_SUBJECT = "Ledger: {amount} {currency} {verb} your account"
EMAIL_BODY = (
    "Hello {name},\n\n"
    "{amount} {currency} was {verb} your account {account} ({what}).\n"
    "Other account: {other}\n"
    "Transaction: {transaction}\n"
    "New balance: {balance} {currency}\n"
)
EMAIL_WHAT = {Kind.TRANSFER: "transfer", Kind.FUNDING: "funding", Kind.REVERSAL: "reversal"}


def transaction_emails(*, txn: Transaction, debit, credit, debit_owner, credit_owner) -> list[OutboxEmail]:
    """The outbox rows (unsaved) for an email to the owner of each side, with the balances after
    the write; system funding accounts get none. `transactions.services._post_completed` inserts
    them in the same statement as the entries, so they commit with the transaction or not at all."""
    sides = [(debit, debit_owner, credit, "debited from"), (credit, credit_owner, debit, "credited to")]
    rows = []
    for account, owner, other, verb in sides:
        if account.is_system:
            continue
        values = {
            "name": owner.name,
            "amount": format_minor(txn.amount, txn.currency),
            "currency": txn.currency,
            "verb": verb,
            "account": account.id,
            "what": "capture of a hold" if txn.hold_id else EMAIL_WHAT[txn.kind],
            "other": other.id,
            "transaction": txn.id,
            "balance": format_minor(account.balance, txn.currency),
        }
        rows.append(
            OutboxEmail(to=owner.email, subject=EMAIL_SUBJECT.format(**values), body=EMAIL_BODY.format(**values))
        )
    return rows


HOLD_SUBJECT = "Ledger: {amount} {currency} held on your account"
HOLD_BODY = (
    "Hello {name},\n\n"
    "{amount} {currency} is held on your account {account} for account {other} until {expires} "
    "(hold {hold}).\n"
    "It stays yours until it is captured; if it is voided or expires, it is released.\n"
    "Available now: {available} {currency}\n"
)


def hold_emails_enqueue(*, hold: Hold, source, source_owner) -> None:
    """An email to the source's owner that money is held (the capture's email is a transfer's).
    Call inside the atomic block of `transactions.holds.hold_create`, with `source` locked."""
    values = {
        "name": source_owner.name,
        "amount": format_minor(hold.amount, hold.currency),
        "currency": hold.currency,
        "account": source.id,
        "other": hold.to_account_id,
        "expires": f"{hold.expires_at:%Y-%m-%d %H:%M:%S} UTC",
        "hold": hold.id,
        "available": format_minor(source.available, hold.currency),
    }
    outbox_rows_enqueue(
        rows=[
            OutboxEmail(to=source_owner.email, subject=HOLD_SUBJECT.format(**values), body=HOLD_BODY.format(**values))
        ]
    )
