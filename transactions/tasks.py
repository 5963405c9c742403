from celery import shared_task

from . import audit


@shared_task
def ledger_audit():
    """Beat runs this nightly (LEDGER_AUDIT_CRON); the task shares its service's name."""
    return audit.ledger_audit().ok
