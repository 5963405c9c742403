from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run in a transaction; it lets transfers go on while a large
    # table is indexed, where a plain CREATE INDEX would block every insert until it finished.
    atomic = False

    dependencies = [
        ("transactions", "0003_ledger_audit"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="transaction",
            index=models.Index(fields=["created_at"], name="transaction_created_idx", include=["kind", "status"]),
        ),
    ]
