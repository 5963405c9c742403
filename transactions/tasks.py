from celery import shared_task

from . import audit, holds


@shared_task
def ledger_audit():
    """Beat runs this nightly (LEDGER_AUDIT_CRON); the task shares its service's name."""
    return audit.ledger_audit().ok


@shared_task
def holds_expire():
    """Beat runs this every HOLDS_EXPIRE_INTERVAL_SECONDS; safe to run twice at once."""
    return holds.holds_expire()
