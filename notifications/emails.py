"""The emails a ledger write sends: their text, and their outbox rows."""

import uuid
from typing import NamedTuple

from accounts.money import format_minor
from transactions.models import Hold, LedgerEntry, Transaction

from .models import OutboxEmail
from .services import outbox_rows_enqueue

Kind = Transaction.Kind


class Email(NamedTuple):
    """An outbox row before a set-based write inserts it (POST_SQL, BATCH_POST_SQL, in the write's
    own statement). Not an OutboxEmail: a model instance computes every field's default, which was
    7 % of a 100-item batch's time. A batch summary has no body yet: it names its batch and owner
    (`batch_email_body` writes the body when the email is sent)."""

    to: str
    subject: str
    body: str
    batch: uuid.UUID | None = None
    owner: uuid.UUID | None = None


# For a set-based write's statement (POST_SQL, BATCH_POST_SQL; as events.services.EVENTS_INSERT_SQL):
# its outbox rows, fed by outbox_sql_params. The arrays go in binary (`%b`): psycopg builds a text
# array in Python, quoting and escaping element by element (6.4 us an email body).
OUTBOX_INSERT_SQL = f"""
    INSERT INTO {OutboxEmail._meta.db_table} ("to", subject, body, batch_id, owner_id, created_at)
    SELECT email.recipient, email.subject, email.body, email.batch, email.owner, %(now)s
    FROM unnest(%(email_to)b::varchar[], %(email_subject)b::varchar[], %(email_body)b::text[],
        %(email_batch)b::uuid[], %(email_owner)b::uuid[]) AS email (recipient, subject, body, batch, owner)
"""


def outbox_sql_params(emails: list[Email]) -> dict:
    return {
        "email_to": [email.to for email in emails],
        "email_subject": [email.subject for email in emails],
        "email_body": [email.body for email in emails],
        "email_batch": [email.batch for email in emails],
        "email_owner": [email.owner for email in emails],
    }


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


def batch_emails(*, batch_id, moves, owner_emails) -> list[Email]:
    """One summary email per owner per batch (not one per item), to every owner whose accounts a
    completed move touched. `moves` are the completed items in order
    (`transactions.batches.ItemOutcome`); `owner_emails` maps owner ids to their addresses.
    `transactions.batches._batch_post` inserts the rows in the batch's statement, so they commit
    with it or not at all. Only the subject is written now: the body, a line per move and the
    accounts' balances after the batch, is written from the batch's entries when the email is
    sent (`batch_email_body`), after the batch has let its accounts go."""
    counts = {}
    for move in moves:
        for owner_id in dict.fromkeys((move.debit.owner_id, move.credit.owner_id)):
            counts[owner_id] = counts.get(owner_id, 0) + 1
    return [
        Email(owner_emails[owner_id], BATCH_SUBJECT.format(count=count), "", batch_id, owner_id)
        for owner_id, count in counts.items()
    ]


def batch_email_body(*, batch_id, owner) -> str:
    """A batch summary's text for `owner`, from the batch's entries on the owner's accounts: a line
    for each completed move that touched them, in the batch's order, and each account's balance
    after the batch (its last entry's). Entries never change, so the text is the same whenever it
    is written. Called when the email is sent (`services.outbox_email_send`)."""
    entries = (
        LedgerEntry.objects.filter(transaction__batch_id=batch_id, account__owner=owner)
        .select_related("transaction")
        .order_by("id")
    )
    lines, balances = {}, {}
    for entry in entries:
        txn = entry.transaction
        side = "debit" if entry.type == LedgerEntry.Type.DEBIT else "credit"
        if txn.id in lines:  # both sides of this move are the owner's
            side = "both"
        values = {
            "amount": format_minor(txn.amount, txn.currency),
            "currency": txn.currency,
            "debit": txn.from_account_id,
            "credit": txn.to_account_id,
            "transaction": txn.id,
        }
        lines[txn.id] = BATCH_LINES[side].format(**values)
        balances[entry.account_id] = (
            f"- {entry.account_id}: {format_minor(entry.balance_after, txn.currency)} {txn.currency}"
        )
    return BATCH_BODY.format(
        name=owner.name, batch=batch_id, lines="\n".join(lines.values()), balances="\n".join(balances.values())
    )
