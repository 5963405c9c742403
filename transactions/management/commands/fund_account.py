import uuid

from django.core.management.base import BaseCommand, CommandError

from accounts.money import parse_amount
from authn.models import User
from ledger_project.exceptions import ApplicationError, command_error
from transactions.exceptions import DECLINES
from transactions.services import funding_create


class Command(BaseCommand):
    help = "Fund an account from the system user's funding account (the initial-funds service)."

    def add_arguments(self, parser):
        parser.add_argument("account_id")
        parser.add_argument("amount", help="Plain decimal, e.g. 500 or 500.50")
        parser.add_argument("--idempotency-key", help="Default: a new random key.")
        parser.add_argument("--system-user", help="Email of the system user to fund from (default: the first one).")

    def handle(self, *args, account_id, amount, idempotency_key, system_user, **options):
        try:
            account_id = uuid.UUID(account_id)
        except ValueError as exc:
            raise CommandError(f"Not an account id: {account_id!r}") from exc
        try:
            amount = parse_amount(amount)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        system = User.objects.filter(is_system=True, is_active=True)
        system = system.filter(email=system_user.lower()) if system_user else system.order_by("date_joined")
        initiator = system.first()
        if initiator is None:
            raise CommandError("No system user; create one with create_system_user.")
        try:
            result = funding_create(
                initiator=initiator,
                to_account_id=account_id,
                amount=amount,
                idempotency_key=idempotency_key or f"fund_account:{uuid.uuid4()}",
            )
        except ApplicationError as exc:
            raise command_error(exc) from exc
        txn = result.transaction
        if txn.failure_reason:
            raise CommandError(f"{command_error(DECLINES[txn.failure_reason]())} (transaction {txn.id})")
        self.stdout.write(f"{'Replayed' if result.replayed else 'Funded'}: transaction {txn.id} ({txn.status})")
