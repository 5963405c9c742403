"""Request throttles: a fixed-window counter per scope and caller in Redis, counted atomically.

Each request costs one round trip: INCR and EXPIRE NX in one MULTI/EXEC, so parallel requests
get distinct counts and exactly the rate's number pass (DRF's own throttle reads a list from the
cache and writes it back: parallel requests all read the same list). A window starts on a
multiple of its length, so a client can get up to twice the rate across a window's edge; the
throttles are guards against guessing and floods, not quotas.

Redis may not slow the request path: its client gives up after THROTTLE_REDIS_TIMEOUT_MS, and a
failure opens a circuit for THROTTLE_CIRCUIT_SECONDS in which no request touches Redis. Until it
closes every request passes (fail open): with Redis down, money must still move.
"""

import logging
import threading
import time

import redis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis.backoff import NoBackoff
from redis.retry import Retry
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

SECONDS_PER = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def client_address(request) -> str:
    """The client's address. X-Forwarded-For counts only behind TRUSTED_PROXY_COUNT proxies (DRF's
    NUM_PROXIES); django-axes uses this too, so the admin login sees the same client."""
    return BaseThrottle().get_ident(request)


class ScopedRateThrottle(BaseThrottle):
    """The view's `throttle_scope` at its rate in settings.THROTTLE_RATES ("10/min"), read on each
    request; counted per user when authenticated, else per client address."""

    retry_after = None

    def allow_request(self, request, view):
        scope = getattr(view, "throttle_scope", None)
        rate = settings.THROTTLE_RATES.get(scope)
        if not rate:
            return True
        limit, period = rate.split("/")
        seconds = SECONDS_PER[period[0]]
        now = time.time()
        window = int(now // seconds)
        user = getattr(request, "user", None)
        caller = user.pk if user and user.is_authenticated else client_address(request)
        count = _counter_incr(f"ledger:throttle:{scope}:{caller}:{window}", seconds)
        self.retry_after = (window + 1) * seconds - now
        return count is None or count <= int(limit)

    def wait(self):
        return self.retry_after


_lock = threading.Lock()
_client = None
_circuit_open_until = 0.0


def _counter_incr(key: str, seconds: int) -> int | None:
    """The key's count with this request in it, or None when Redis is not asked (circuit open) or
    does not answer in time (the circuit opens, logged once)."""
    global _circuit_open_until
    if time.monotonic() < _circuit_open_until:
        return None
    try:
        pipe = _redis().pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, seconds, nx=True)
        count, _ = pipe.execute()
        return count
    except redis.RedisError as exc:
        with _lock:
            if time.monotonic() >= _circuit_open_until:  # requests in flight fail too; log once
                logger.warning(
                    "throttles off for %ss: Redis did not answer (%s)", settings.THROTTLE_CIRCUIT_SECONDS, exc
                )
            _circuit_open_until = time.monotonic() + settings.THROTTLE_CIRCUIT_SECONDS
        return None


def _redis() -> redis.Redis:
    """One client (and connection pool) per process, made on first use."""
    global _client
    with _lock:
        if _client is None:
            timeout = settings.THROTTLE_REDIS_TIMEOUT_MS / 1000
            _client = redis.Redis.from_url(
                settings.THROTTLE_REDIS_URL,
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
                retry=Retry(NoBackoff(), 0),  # a retry would double the wait; the circuit decides
            )
        return _client


def throttle_state_reset():
    """Forget the client and close the circuit: for tests, and when the settings change."""
    global _client, _circuit_open_until
    with _lock:
        if _client is not None:
            _client.close()
        _client, _circuit_open_until = None, 0.0


@receiver(setting_changed)
def _settings_changed(*, setting, **kwargs):
    if setting.startswith("THROTTLE_REDIS") or setting == "THROTTLE_CIRCUIT_SECONDS":
        throttle_state_reset()
