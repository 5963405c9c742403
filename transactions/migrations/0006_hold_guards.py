from pathlib import Path

from django.db import migrations

# This migration's own SQL, frozen beside it (as 0002's): a later change is a new migration.
FORWARD = Path(__file__).with_suffix(".sql")
REVERSE = Path(__file__).with_suffix(".reverse.sql")


class Migration(migrations.Migration):
    """A hold's terms are immutable and it leaves PENDING once (0006_hold_guards.sql)."""

    dependencies = [("transactions", "0005_holds")]

    operations = [migrations.RunSQL(sql=FORWARD.read_text(), reverse_sql=REVERSE.read_text())]
