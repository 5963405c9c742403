import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task
def events_purge():
    """Beat runs this every EVENT_PURGE_INTERVAL_SECONDS; safe to run twice at once (each batch
    deletes what is still there)."""
    # Their webhook deliveries first: the deliveries' foreign key would refuse the events' delete.
    from webhooks.services import webhook_deliveries_purge

    webhook_deliveries_purge()
    deleted = services.events_purge()
    logger.info("purged %d events older than the retention window", deleted)
    return deleted
