"""The emails a ledger write sends: their text, and their outbox rows."""

from typing import NamedTuple

from accounts.money import format_minor
from transactions.models import Hold, Transaction

from .models import OutboxEmail
from .services import outbox_rows_enqueue

Kind = Transaction.Kind


class Email(NamedTuple):
    """An outbox row before a set-based write inserts it (POST_SQL, BATCH_POST_SQL, in the write's
    own statement). Not an OutboxEmail: a model instance computes every field's default, which was
    7 % of a 100-item batch's time."""

    to: str
    subject: str
    body: str


# For a set-based write's statement (POST_SQL, BATCH_POST_SQL; as events.services.EVENTS_INSERT_SQL):
# its outbox rows, fed by outbox_sql_params. The arrays go in binary (`%b`): psycopg builds a text
# array in Python, quoting and escaping element by element (6.4 us an email body).
OUTBOX_INSERT_SQL = f"""
    INSERT INTO {OutboxEmail._meta.db_table} ("to", subject, body, created_at)
    SELECT email.recipient, email.subject, email.body, %(now)s
    FROM unnest(%(email_to)b::varchar[], %(email_subject)b::varchar[], %(email_body)b::text[])
        AS email (recipient, subject, body)
"""


def outbox_sql_params(emails: list[Email]) -> dict:
    return {
        "email_to": [email.to for email in emails],
        "email_subject": [email.subject for email in emails],
        "email_body": [email.body for email in emails],
    }


class Recipient(NamedTuple):
    """Whom a summary email goes to (batch_emails): a user's address and name, nothing more."""

    email: str
    name: str


EMAIL_SUBJECT = "Ledger: {amount} {currency} {verb} your account"
EMAIL_BODY = (
    "Hello {name},\n\n"
    "{amount} {currency} was {verb} your account {account} ({what}).\n"
    "Other account: {other}\n"
    "Transaction: {transaction}\n"
    "New balance: {balance} {currency}\n"
)
EMAIL_WHAT = {Kind.TRANSFER: "transfer", Kind.FUNDING: "funding", Kind.REVERSAL: "reversal"}


def transaction_emails(*, txn: Transaction, debit, credit, debit_owner, credit_owner) -> list[Email]:
    """The outbox rows (unwritten) for an email to the owner of each side, with the balances after
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
        rows.append(Email(owner.email, EMAIL_SUBJECT.format(**values), EMAIL_BODY.format(**values)))
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


BATCH_SUBJECT = "Ledger: {count} transfers of a batch on your accounts"
BATCH_BODY = (
    "Hello {name},\n\n"
    "A batch of transfers ({batch}) moved money on your accounts:\n{lines}\n\n"
    "New balances:\n{balances}\n"
)
BATCH_LINES = {
    "debit": "- {amount} {currency} debited from your account {debit} to account {credit} (transaction {transaction})",
    "credit": "- {amount} {currency} credited to your account {credit} from account {debit} (transaction {transaction})",
    "both": "- {amount} {currency} moved from your account {debit} to your account {credit} (transaction {transaction})",
}


def batch_emails(*, batch_id, moves, owners) -> list[Email]:
    """One summary email per owner per batch (not one per item): a line for each completed move
    that touched the owner's accounts, and those accounts' balances after the batch. `moves` are
    the completed items in order (`transactions.batches.ItemOutcome`: id, amount, currency,
    debit, credit), the accounts the locked rows as the batch left them; `owners` maps owner
    ids to their Recipient. `transactions.batches._batch_post` inserts the rows
    in the batch's statement, so they commit with it or not at all."""
    lines, finals = {}, {}
    for move in moves:
        debit, credit = move.debit, move.credit
        values = {
            "amount": format_minor(move.amount, move.currency),
            "currency": move.currency,
            "debit": debit.id,
            "credit": credit.id,
            "transaction": move.id,
        }
        if debit.owner_id == credit.owner_id:
            sides = {debit.owner_id: "both"}
        else:
            sides = {debit.owner_id: "debit", credit.owner_id: "credit"}
        for owner_id, side in sides.items():
            lines.setdefault(owner_id, []).append(BATCH_LINES[side].format(**values))
        for account in (debit, credit):
            finals.setdefault(account.owner_id, {})[account.id] = account
    rows = []
    for owner_id, owner_lines in lines.items():
        owner = owners[owner_id]
        balances = "\n".join(
            f"- {account.id}: {format_minor(account.balance, account.currency)} {account.currency}"
            for account in finals[owner_id].values()
        )
        values = {"name": owner.name, "count": len(owner_lines), "batch": batch_id}
        rows.append(
            Email(
                owner.email,
                BATCH_SUBJECT.format(**values),
                BATCH_BODY.format(**values, lines="\n".join(owner_lines), balances=balances),
            )
        )
    return rows
