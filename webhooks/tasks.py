import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import services

logger = logging.getLogger(__name__)


# A database error is retried with backoff; if every retry fails, the delivery's lease ends and the
# relay hands it over again. The receiver's errors never get here: each attempt records its own.
@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, retry_backoff_max=60, max_retries=8)
def webhook_deliver(lease, delivery_id):
    """One attempt of one delivery; acks_late (settings) plus the lease and the row lock in the
    service: a redelivered or duplicated message sends nothing twice."""
    return services.webhook_deliver(delivery_id=delivery_id, lease=lease)


# No retry of its own: beat runs it again within seconds.
@shared_task
def webhook_relay():
    created, handed = services.webhook_relay()
    if created or handed:
        logger.info("webhooks: %d deliveries created, %d handed to the workers", created, handed)
    return handed


@shared_task
def webhook_deliveries_purge():
    purged = services.webhook_deliveries_purge()
    if purged:
        logger.info("purged %d webhook deliveries older than the retention", purged)
    return purged
