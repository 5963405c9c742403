from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # Built concurrently (outside a transaction) so a large outbox keeps taking rows meanwhile.
    atomic = False

    dependencies = [
        ("notifications", "0002_outbox_attempts_and_failures"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="outboxemail",
            index=models.Index(
                condition=models.Q(("sent_at__isnull", True)), fields=["created_at"], name="outbox_not_sent_idx"
            ),
        ),
    ]
