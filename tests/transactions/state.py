"""What the database holds after a test: ledger checks, balances, transfers and outbox rows."""

from accounts.models import Account
from notifications.models import OutboxEmail
from transactions.audit import ledger_verify
from transactions.models import Transaction


def assert_ledger_ok():
    report = ledger_verify()
    assert report.ok, report.summary()


def balances(*accounts):
    """Current balances (minor units), read fresh from the database."""
    return [Account.objects.get(id=account.id).balance for account in accounts]


def transfers():
    return Transaction.objects.filter(kind=Transaction.Kind.TRANSFER)


def outbox_mark() -> int:
    """The newest outbox row's id now; rows written later have larger ids."""
    newest = OutboxEmail.objects.order_by("-id").first()
    return newest.id if newest else 0


def outbox_since(mark: int) -> list[OutboxEmail]:
    return list(OutboxEmail.objects.filter(id__gt=mark).order_by("id"))
