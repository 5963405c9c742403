"""The test suite: the real PostgreSQL and Redis, on Redis databases of its own."""

from .base import *  # noqa: F403
from .base import env

# Tests flush the cache between cases; keep them away from a running `make run`'s data.
CACHES["default"]["LOCATION"] = env("TEST_CACHE_URL", default="redis://localhost:6379/15")  # noqa: F405
CELERY_BROKER_URL = env("TEST_REDIS_URL", default="redis://localhost:6379/14")
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# The concurrency tests run up to 50 threads in this one process, each on a connection of its own.
DATABASES["default"]["OPTIONS"]["pool"]["max_size"] = 64  # noqa: F405
