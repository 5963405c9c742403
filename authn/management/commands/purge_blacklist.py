from django.core.management.base import BaseCommand

from authn.services import blacklist_purge_expired


class Command(BaseCommand):
    help = "Delete blacklisted-token rows whose token has expired (beat runs this hourly)."

    def handle(self, *args, **options):
        deleted = blacklist_purge_expired()
        self.stdout.write(f"Deleted {deleted} expired blacklisted token(s).")
