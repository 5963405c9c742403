import datetime

from django.db import connection
from psycopg.pq import Format

from accounts.models import Account
from ledger_project.db_loaders import TIMESTAMPTZ_OID, UtcTimestamptzLoader

from .factories import AccountFactory


def test_timestamps_are_parsed_by_psycopgs_compiled_loader(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT '2026-01-01 00:00:00.5+05'::timestamptz, NULL::timestamptz")
        value, missing = cursor.fetchone()

    assert connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT) is UtcTimestamptzLoader
    # The instant and the tzinfo that Django's own loader gives: UTC, as datetime.UTC.
    assert value == datetime.datetime(2025, 12, 31, 19, 0, 0, 500000, tzinfo=datetime.UTC)
    assert value.tzinfo is datetime.UTC
    assert missing is None


def test_a_models_timestamps_load_as_they_were_saved(db):
    account = AccountFactory()

    loaded = Account.objects.get(id=account.id)

    assert (loaded.created_at, loaded.updated_at) == (account.created_at, account.updated_at)
    assert loaded.created_at.tzinfo is datetime.UTC
