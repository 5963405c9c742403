import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


def metadata_index(model: str) -> AddIndexConcurrently:
    return AddIndexConcurrently(
        model_name=model,
        index=django.contrib.postgres.indexes.GinIndex(
            condition=~models.Q(metadata={}),
            fields=["metadata"],
            name=f"{model}_metadata_idx",
            opclasses=["jsonb_path_ops"],
        ),
    )


class Migration(migrations.Migration):
    # Indexes are built CONCURRENTLY (outside a transaction), as 0004 does: the entries table is
    # the ledger's largest, and a plain CREATE INDEX would block every transfer until it finished.
    atomic = False

    dependencies = [
        ("transactions", "0006_hold_guards"),
    ]

    operations = [
        migrations.AddField(
            model_name="hold",
            name="metadata",
            field=models.JSONField(
                blank=True, db_default=models.Value({}, output_field=models.JSONField()), default=dict
            ),
        ),
        migrations.AddField(
            model_name="transaction",
            name="metadata",
            field=models.JSONField(
                blank=True, db_default=models.Value({}, output_field=models.JSONField()), default=dict
            ),
        ),
        metadata_index("hold"),
        metadata_index("transaction"),
        AddIndexConcurrently(
            model_name="ledgerentry",
            index=models.Index(
                fields=["account", "created_at", "id"], include=("type", "amount"), name="ledger_entry_account_time_idx"
            ),
        ),
    ]
