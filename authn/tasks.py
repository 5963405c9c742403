import logging

from celery import shared_task

from .services import blacklist_purge_expired as purge

logger = logging.getLogger(__name__)


@shared_task
def blacklist_purge_expired():
    deleted = purge()
    logger.info("purged %d expired blacklisted tokens", deleted)
    return deleted
