"""The reversal indexes over reversals only: `reverses` is NULL on every other transaction, and the
foreign key's index and transaction_one_completed_reversal each took an entry for every completed
transfer all the same. Built concurrently (as 0004): a plain CREATE INDEX would block transfers
while it read the whole table. The foreign key itself stays as it is."""

import django.db.models.deletion
from django.db import migrations, models

COMPLETED_REVERSAL = "transaction_one_completed_reversal"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("transactions", "0011_balance_check_per_statement")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="transaction",
                    name="reverses",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reversals",
                        to="transactions.transaction",
                    ),
                ),
                migrations.AddIndex(
                    model_name="transaction",
                    index=models.Index(
                        condition=models.Q(("reverses__isnull", False)),
                        fields=["reverses"],
                        name="transaction_reverses_idx",
                    ),
                ),
                migrations.RemoveConstraint(model_name="transaction", name=COMPLETED_REVERSAL),
                migrations.AddConstraint(
                    model_name="transaction",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("reverses__isnull", False), ("status", "COMPLETED")),
                        fields=("reverses",),
                        name=COMPLETED_REVERSAL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=[
                        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "transaction_reverses_idx" ON "transactions_transaction"'
                        ' ("reverses_id") WHERE "reverses_id" IS NOT NULL',
                        'DROP INDEX CONCURRENTLY IF EXISTS "transactions_transaction_reverses_id_3fd65c59"',
                        f'CREATE UNIQUE INDEX CONCURRENTLY "{COMPLETED_REVERSAL}_new" ON "transactions_transaction"'
                        ' ("reverses_id") WHERE "status" = \'COMPLETED\' AND "reverses_id" IS NOT NULL',
                        f'DROP INDEX CONCURRENTLY "{COMPLETED_REVERSAL}"',
                        f'ALTER INDEX "{COMPLETED_REVERSAL}_new" RENAME TO "{COMPLETED_REVERSAL}"',
                    ],
                    reverse_sql=[
                        f'CREATE UNIQUE INDEX CONCURRENTLY "{COMPLETED_REVERSAL}_old" ON "transactions_transaction"'
                        ' ("reverses_id") WHERE "status" = \'COMPLETED\'',
                        f'DROP INDEX CONCURRENTLY "{COMPLETED_REVERSAL}"',
                        f'ALTER INDEX "{COMPLETED_REVERSAL}_old" RENAME TO "{COMPLETED_REVERSAL}"',
                        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "transactions_transaction_reverses_id_3fd65c59"'
                        ' ON "transactions_transaction" ("reverses_id")',
                        'DROP INDEX CONCURRENTLY IF EXISTS "transaction_reverses_idx"',
                    ],
                ),
            ],
        ),
    ]
