import logging

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework import throttling

logger = logging.getLogger(__name__)


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    """DRF's scoped throttle (per user when authenticated, else per client address), with the
    rate read from settings.THROTTLE_RATES on each request rather than once at import, so
    the environment and the tests can set it. Counters live in the Redis cache."""

    def get_rate(self):
        return settings.THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        # Fail open: with Redis down, money must still move; the limit is a guard, not a gate.
        try:
            return super().allow_request(request, view)
        except RedisError:
            logger.warning("throttle %s not applied: the cache is unavailable", self.scope)
            return True
