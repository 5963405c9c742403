import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


# acks_late (settings) plus the row check in the service: a redelivered or duplicated message
# sends nothing twice. Retries back off when the mail server fails.
@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def outbox_email_send(*outbox_ids):
    """Send the rows not sent yet; returns how many this run sent. A retry after a mail-server
    failure repeats the batch, and the rows already sent are skipped."""
    return sum(services.outbox_email_send(outbox_id=outbox_id) for outbox_id in outbox_ids)


@shared_task
def outbox_redispatch_unsent():
    published = services.outbox_redispatch_unsent()
    if published:
        logger.info("re-dispatched %d unsent outbox emails", published)
    return published
