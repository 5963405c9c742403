"""Drop the single-column indexes Django made for these foreign keys: each leads a composite
index already (see the fields' comments), so they only cost every insert an index write (issue
11). The index alone is dropped; Django's AlterField would also drop and re-validate the foreign
key over the whole table."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_account_metadata"),
        ("transactions", "0008_batches"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="hold",
                    name="from_account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="outgoing_holds",
                        to="accounts.account",
                    ),
                ),
                migrations.AlterField(
                    model_name="hold",
                    name="to_account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="incoming_holds",
                        to="accounts.account",
                    ),
                ),
                migrations.AlterField(
                    model_name="idempotencykey",
                    name="initiator",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="account",
                    field=models.ForeignKey(
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
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="entries",
                        to="transactions.transaction",
                    ),
                ),
                migrations.AlterField(
                    model_name="transaction",
                    name="batch",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="transactions",
                        to="transactions.batch",
                    ),
                ),
                migrations.AlterField(
                    model_name="transaction",
                    name="from_account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="outgoing_transactions",
                        to="accounts.account",
                    ),
                ),
                migrations.AlterField(
                    model_name="transaction",
                    name="to_account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="incoming_transactions",
                        to="accounts.account",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=[
                        'DROP INDEX IF EXISTS "transactions_hold_from_account_id_1ae0f8f8"',
                        'DROP INDEX IF EXISTS "transactions_hold_to_account_id_e238f340"',
                        'DROP INDEX IF EXISTS "transactions_idempotencykey_initiator_id_6395b271"',
                        'DROP INDEX IF EXISTS "transactions_ledgerentry_account_id_ad1949d5"',
                        'DROP INDEX IF EXISTS "transactions_ledgerentry_transaction_id_46e71117"',
                        'DROP INDEX IF EXISTS "transactions_transaction_batch_id_e97efd4c"',
                        'DROP INDEX IF EXISTS "transactions_transaction_from_account_id_f91a0cf4"',
                        'DROP INDEX IF EXISTS "transactions_transaction_to_account_id_62a511c4"',
                    ],
                    reverse_sql=[
                        'CREATE INDEX IF NOT EXISTS "transactions_hold_from_account_id_1ae0f8f8" ON "transactions_hold" ("from_account_id")',
                        'CREATE INDEX IF NOT EXISTS "transactions_hold_to_account_id_e238f340" ON "transactions_hold" ("to_account_id")',
                        'CREATE INDEX IF NOT EXISTS "transactions_idempotencykey_initiator_id_6395b271" ON "transactions_idempotencykey" ("initiator_id")',
                        'CREATE INDEX IF NOT EXISTS "transactions_ledgerentry_account_id_ad1949d5" ON "transactions_ledgerentry" ("account_id")',
                        'CREATE INDEX IF NOT EXISTS "transactions_ledgerentry_transaction_id_46e71117" ON "transactions_ledgerentry" ("transaction_id")',
                        'CREATE INDEX IF NOT EXISTS "transactions_transaction_batch_id_e97efd4c" ON "transactions_transaction" ("batch_id")',
                        'CREATE INDEX IF NOT EXISTS "transactions_transaction_from_account_id_f91a0cf4" ON "transactions_transaction" ("from_account_id")',
                        'CREATE INDEX IF NOT EXISTS "transactions_transaction_to_account_id_62a511c4" ON "transactions_transaction" ("to_account_id")',
                    ],
                ),
            ],
        ),
    ]
