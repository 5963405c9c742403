"""Drop the single-column indexes Django made for these foreign keys: each leads a composite
index already (see the fields' comments), so they only cost every insert an index write (issue
11). The index alone is dropped; Django's AlterField would also drop and re-validate the foreign
key over the whole table."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0001_events"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="event",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=[
                        'DROP INDEX IF EXISTS "events_event_user_id_39865209"',
                    ],
                    reverse_sql=[
                        'CREATE INDEX IF NOT EXISTS "events_event_user_id_39865209" ON "events_event" ("user_id")',
                    ],
                ),
            ],
        ),
    ]
