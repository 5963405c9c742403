"""The emails a ledger write sends: their text, and their outbox rows."""

from accounts.money import format_minor
from transactions.models import Transaction

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


def transaction_emails_enqueue(*, txn: Transaction, debit, credit, debit_owner, credit_owner) -> None:
    """An email to the owner of each side; system funding accounts get none. Call inside the
    atomic block of `transactions.services._ledger_write`: the rows commit with the transaction."""
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
            "what": EMAIL_WHAT[txn.kind],
            "other": other.id,
            "transaction": txn.id,
            "balance": format_minor(account.balance, txn.currency),
        }
        rows.append(
            OutboxEmail(to=owner.email, subject=EMAIL_SUBJECT.format(**values), body=EMAIL_BODY.format(**values))
        )
    if rows:
        outbox_rows_enqueue(rows=rows)
