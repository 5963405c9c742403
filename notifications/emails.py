"""The emails a ledger write sends: their text, and their outbox rows."""

from accounts.money import format_minor
from transactions.models import Transaction

from .models import OutboxEmail

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
            "what": EMAIL_WHAT[txn.kind],
            "other": other.id,
            "transaction": txn.id,
            "balance": format_minor(account.balance, txn.currency),
        }
        rows.append(
            OutboxEmail(to=owner.email, subject=EMAIL_SUBJECT.format(**values), body=EMAIL_BODY.format(**values))
        )
    return rows
