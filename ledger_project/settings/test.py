"""The test suite: the real PostgreSQL and Redis, on Redis databases of its own."""

from .base import *  # noqa: F403
from .base import env

# Tests flush the cache between cases; keep them away from a running `make run`'s data.
CACHES["default"]["LOCATION"] = env("TEST_CACHE_URL", default="redis://localhost:6379/15")  # noqa: F405
THROTTLE_REDIS_URL = CACHES["default"]["LOCATION"]  # noqa: F405  (conftest's cache.clear() resets the counters)
CELERY_BROKER_URL = env("TEST_REDIS_URL", default="redis://localhost:6379/14")
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# The concurrency tests run up to 50 threads in this one process, each on a connection of its own,
# piled onto a few rows of a small, often busy machine: their lock waits measure its load, not the
# service, so the suite's own connections wait longer for a lock, and for a statement (whose time
# includes its lock waits), than the service's 1 s and 5 s defaults.
DATABASES["default"]["OPTIONS"]["pool"]["max_size"] = 64  # noqa: F405
DB_LOCK_TIMEOUT_MS = env.int("TEST_DB_LOCK_TIMEOUT_MS", default=5000)
DB_STATEMENT_TIMEOUT_MS = env.int("TEST_DB_STATEMENT_TIMEOUT_MS", default=60000)
BATCH_LOCK_TIMEOUT_MS = max(BATCH_LOCK_TIMEOUT_MS, DB_LOCK_TIMEOUT_MS)  # noqa: F405
DATABASES["default"]["OPTIONS"]["options"] = (  # noqa: F405
    f"-c lock_timeout={DB_LOCK_TIMEOUT_MS} -c statement_timeout={DB_STATEMENT_TIMEOUT_MS}"
)
# The tests' receivers listen on 127.0.0.1 over plain http.
WEBHOOK_ALLOW_PRIVATE_URLS = True
