import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # The GIN index is built CONCURRENTLY (outside a transaction), as transactions/0004 does, so
    # writes go on while it is built. Adding the column with its constant default is instant.
    atomic = False

    dependencies = [
        ("accounts", "0003_account_limits"),
    ]

    operations = [
        migrations.AddField(
            model_name="account",
            name="metadata",
            field=models.JSONField(
                blank=True, db_default=models.Value({}, output_field=models.JSONField()), default=dict
            ),
        ),
        AddIndexConcurrently(
            model_name="account",
            index=django.contrib.postgres.indexes.GinIndex(
                condition=~models.Q(metadata={}),
                fields=["metadata"],
                name="account_metadata_idx",
                opclasses=["jsonb_path_ops"],
            ),
        ),
    ]
