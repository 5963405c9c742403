from pathlib import Path

from django.db import migrations

# This migration's own SQL, frozen beside it: a later change is a new migration.
FORWARD = Path(__file__).with_suffix(".sql")
REVERSE = Path(__file__).with_suffix(".reverse.sql")


class Migration(migrations.Migration):
    """A delivery sends an event only to its owner's endpoint (0002_webhook_guards.sql)."""

    dependencies = [("webhooks", "0001_webhooks"), ("events", "0001_events")]

    operations = [migrations.RunSQL(sql=FORWARD.read_text(), reverse_sql=REVERSE.read_text())]
