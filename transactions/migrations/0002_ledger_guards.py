from pathlib import Path

from django.db import migrations

# This migration's own SQL, frozen beside it (django-hordak's `0052_*.pg.sql` habit): a later
# change to the triggers is a new migration with new files, so this one never changes meaning.
FORWARD = Path(__file__).with_suffix(".sql")
REVERSE = Path(__file__).with_suffix(".reverse.sql")


class Migration(migrations.Migration):
    """The ledger's invariants as PostgreSQL triggers (0002_ledger_guards.sql beside this file)."""

    dependencies = [("transactions", "0001_initial"), ("accounts", "0001_initial")]

    operations = [migrations.RunSQL(sql=FORWARD.read_text(), reverse_sql=REVERSE.read_text())]
