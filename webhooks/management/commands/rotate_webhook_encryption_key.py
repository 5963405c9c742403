from django.core.management.base import BaseCommand

from webhooks.services import webhook_secrets_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every webhook signing secret under the first key of WEBHOOK_SECRET_KEYS. Put the new "
        "key first, keep the old ones after it, run this, then remove the old keys."
    )

    def handle(self, *args, **options):
        count = webhook_secrets_reencrypt()
        self.stdout.write(f"Re-encrypted the secrets of {count} webhook endpoints under the first key.")
