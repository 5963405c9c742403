from django.core.management.base import BaseCommand, CommandError

from transactions.audit import ledger_verify


class Command(BaseCommand):
    help = "Check every ledger invariant; print a summary; exit non-zero on any violation."

    def handle(self, *args, **options):
        report = ledger_verify()
        self.stdout.write(report.summary())
        if not report.ok:
            raise CommandError("ledger invariants violated")
