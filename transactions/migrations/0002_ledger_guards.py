from pathlib import Path

from django.db import migrations

SQL = Path(__file__).resolve().parent.parent / "sql"


class Migration(migrations.Migration):
    """The ledger's invariants as PostgreSQL triggers (transactions/sql/ledger_guards.sql)."""

    dependencies = [("transactions", "0001_initial"), ("accounts", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql=(SQL / "ledger_guards.sql").read_text(),
            reverse_sql=(SQL / "ledger_guards_drop.sql").read_text(),
        ),
    ]
