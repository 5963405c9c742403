import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import services

logger = logging.getLogger(__name__)


# A database error (PostgreSQL restarting, no connection free) is retried with backoff instead of
# failing the message; the rows it did not reach stay due, and the relay hands them over again
# after its lease even if every retry fails. Mail errors never get here: each row records its own.
@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, retry_backoff_max=60, max_retries=8)
def outbox_email_send(*outbox_ids):
    """Send the rows not sent yet; returns how many this run sent. acks_late (settings) plus the
    row lock in the service: a redelivered or duplicated message sends nothing twice."""
    return sum(services.outbox_email_send(outbox_id=outbox_id) for outbox_id in outbox_ids)


# No retry of its own: beat runs it again within a second.
@shared_task
def outbox_relay():
    handed = services.outbox_relay()
    if handed:
        logger.info("handed %d outbox emails to the workers", handed)
    return handed
