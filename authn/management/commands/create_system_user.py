import getpass
import os
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

from accounts.money import format_minor
from authn.services import system_user_ensure
from ledger_project.exceptions import ApplicationError, application_error, command_error


class Command(BaseCommand):
    help = "Create (or update) a system user and its funding account in every supported currency."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--password", help="Default: $SYSTEM_USER_PASSWORD, else a prompt, else generated.")
        parser.add_argument("--no-input", action="store_true", help="Never prompt for a password.")

    def handle(self, *args, email, name, password, no_input, **options):
        password = password or os.environ.get("SYSTEM_USER_PASSWORD")
        if not password and not no_input and sys.stdin.isatty():
            password = getpass.getpass("Password (empty: keep, or generate for a new user): ")
        try:
            user, created, generated = system_user_ensure(email=email, name=name, password=password or None)
        except (ApplicationError, ValidationError) as exc:
            raise command_error(application_error(exc)) from exc

        self.stdout.write(f"System user {user.email} {'created' if created else 'already exists'}.")
        if generated:
            self.stdout.write(f"  password: {generated}   (shown once)")
        elif password:
            self.stdout.write("  password: as given")
        for account in user.accounts.filter(is_system=True).order_by("currency"):
            self.stdout.write(
                f"  funding account {account.currency}: {account.id} (balance {format_minor(account.balance, account.currency)})"
            )
