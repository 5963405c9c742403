from celery import shared_task

from .audit import ledger_audit_record


@shared_task
def ledger_audit():
    """Beat runs this nightly (LEDGER_AUDIT_CRON)."""
    return ledger_audit_record().ok
