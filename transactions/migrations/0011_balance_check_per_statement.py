"""Each transaction's balance checked at the end of the statement that writes it, for all its rows
at once (0011_balance_check_per_statement.sql), and the entries' foreign-key constraints dropped:
that check refuses an entry of a missing transaction or of an account not its transaction's. The
fields stay foreign keys with on_delete=PROTECT for Django."""

from pathlib import Path

import django.db.models.deletion
from django.db import migrations, models

# This migration's own SQL, frozen beside it (as 0002's): a later change is a new migration.
FORWARD = Path(__file__).with_suffix(".sql")
REVERSE = Path(__file__).with_suffix(".reverse.sql")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_account_metadata"),
        ("transactions", "0010_balance_check_once"),
    ]

    operations = [
        migrations.RunSQL(sql=FORWARD.read_text(), reverse_sql=REVERSE.read_text()),
        migrations.AlterField(
            model_name="ledgerentry",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="entries",
                to="accounts.account",
            ),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="transaction",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="entries",
                to="transactions.transaction",
            ),
        ),
    ]
