"""The nightly self-audit: verify_ledger run by beat, kept for /api/health, logged."""

import logging

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import Account
from ledger_project.celery import app
from ledger_project.settings.base import cron_schedule
from tests.factories import funded_account
from transactions import tasks
from transactions.audit import ledger_verify
from transactions.models import LedgerAudit


def test_the_audit_is_scheduled_nightly_as_configured():
    entry = settings.CELERY_BEAT_SCHEDULE["verify-ledger-nightly"]

    assert entry["task"] == "transactions.tasks.ledger_audit" and entry["task"] in app.tasks
    assert entry["schedule"] == cron_schedule("30 2 * * *")
    schedule = cron_schedule("15 4 * * 1")
    assert (schedule.minute, schedule.hour, schedule.day_of_week) == ({15}, {4}, {1})


def test_a_clean_audit_is_recorded_and_logged(db, caplog):
    funded_account("10.00")
    caplog.set_level(logging.INFO, logger="transactions.audit")

    assert tasks.ledger_audit() is True

    audit = LedgerAudit.objects.get()
    assert audit.ok and audit.violations == {}
    assert audit.summary.startswith("ledger OK:")
    assert [r.levelname for r in caplog.records] == ["INFO"]


def test_a_violation_is_logged_at_error_with_the_offending_ids(db, caplog):
    account = funded_account("10.00")
    Account.objects.filter(id=account.id).update(balance=999)  # corruption, around the service
    caplog.set_level(logging.INFO, logger="transactions.audit")

    assert tasks.ledger_audit() is False

    audit = LedgerAudit.objects.get()
    assert not audit.ok
    assert str(account.id) in audit.violations["account balance equals its entries (credits - debits)"]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors and all(str(account.id) in message for message in errors if "account balance" in message)


@pytest.mark.django_db(transaction=True)
def test_the_audit_reads_one_repeatable_read_snapshot():
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        ledger_verify()

    assert statements[0] == "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
