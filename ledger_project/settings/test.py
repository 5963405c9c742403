"""The test suite: the real PostgreSQL and Redis, on Redis databases of its own."""

from .base import *  # noqa: F403
from .base import env

# Tests flush the cache between cases; keep them away from a running `make run`'s data.
CACHES["default"]["LOCATION"] = env("TEST_CACHE_URL", default="redis://localhost:6379/15")  # noqa: F405
THROTTLE_REDIS_URL = CACHES["default"]["LOCATION"]  # noqa: F405  (conftest's cache.clear() resets the counters)
CELERY_BROKER_URL = env("TEST_REDIS_URL", default="redis://localhost:6379/14")
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
