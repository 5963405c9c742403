"""CSV exports of the ledger's admin lists: streamed row by row, money as decimal text with its
currency, and safe to open in a spreadsheet."""

import csv
import re

from django.http import StreamingHttpResponse
from django.utils import timezone

from accounts.money import format_minor

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Except a number we wrote ourselves: a funding account's balance is "-100.00" and must stay one.
PLAIN_NUMBER = re.compile(r"\A-?[0-9]+(\.[0-9]+)?\Z")
# Rows fetched per round trip: the export holds one chunk in memory, never the whole list.
CHUNK_SIZE = 2000

TRANSACTION_COLUMNS = [
    "id",
    "created_at",
    "kind",
    "status",
    "amount",
    "currency",
    "from_account",
    "from_owner_email",
    "to_account",
    "to_owner_email",
    "failure_reason",
    "reverses",
    "reversed_by",
    "reason",
    "idempotency_key",
    "initiator_email",
]
ENTRY_COLUMNS = [
    "id",
    "created_at",
    "transaction",
    "account",
    "owner_email",
    "type",
    "amount",
    "currency",
    "balance_after",
]


def csv_cell(value) -> str:
    """A value as CSV text that a spreadsheet shows and never evaluates: text that would start a
    formula gets a leading apostrophe."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.match(text):
        return "'" + text
    return text


class _Echo:
    """csv.writer writes into this and gets each line back, so lines can be streamed."""

    def write(self, line):
        return line


def export_response(name: str, rows) -> StreamingHttpResponse:
    """`rows` (an iterable: the header, then lists of values) as a streamed CSV download."""
    writer = csv.writer(_Echo())
    lines = (writer.writerow([csv_cell(value) for value in row]) for row in rows)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{timezone.now():%Y%m%dT%H%M%SZ}.csv"'
    return response


def transactions_csv_rows(queryset):
    """The header and a row per transaction; `queryset` is TransactionAdmin's (accounts, owners,
    key and initiator joined, `completed_reversal_id` annotated)."""
    yield TRANSACTION_COLUMNS
    for txn in queryset.iterator(chunk_size=CHUNK_SIZE):
        yield [
            txn.id,
            txn.created_at.isoformat(),
            txn.kind,
            txn.status,
            format_minor(txn.amount, txn.currency),
            txn.currency,
            txn.from_account_id,
            txn.from_account.owner.email,
            txn.to_account_id,
            txn.to_account.owner.email,
            txn.failure_reason,
            txn.reverses_id,
            txn.completed_reversal_id,
            txn.reason,
            txn.idempotency.key if txn.idempotency_id else "",
            txn.initiator.email,
        ]


def entries_csv_rows(queryset):
    """The header and a row per ledger entry; `queryset` joins each entry's account and owner."""
    yield ENTRY_COLUMNS
    for entry in queryset.iterator(chunk_size=CHUNK_SIZE):
        currency = entry.account.currency
        yield [
            entry.id,
            entry.created_at.isoformat(),
            entry.transaction_id,
            entry.account_id,
            entry.account.owner.email,
            entry.type,
            format_minor(entry.amount, currency),
            currency,
            format_minor(entry.balance_after, currency),
        ]
