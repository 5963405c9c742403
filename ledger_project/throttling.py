from django.conf import settings
from rest_framework import throttling


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    """DRF's scoped throttle (per user when authenticated, else per client address), with the
    rate read from settings.THROTTLE_RATES on each request rather than once at import, so
    the environment and the tests can set it. Counters live in the Redis cache."""

    def get_rate(self):
        return settings.THROTTLE_RATES.get(self.scope)
