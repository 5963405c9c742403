from pathlib import Path

from django.db import migrations

# This migration's own SQL, frozen beside it (as 0002's): a later change is a new migration.
FORWARD = Path(__file__).with_suffix(".sql")
REVERSE = Path(__file__).with_suffix(".reverse.sql")


class Migration(migrations.Migration):
    """Each transaction's balance checked once at commit (0010_balance_check_once.sql)."""

    dependencies = [("transactions", "0009_drop_redundant_fk_indexes")]

    operations = [migrations.RunSQL(sql=FORWARD.read_text(), reverse_sql=REVERSE.read_text())]
