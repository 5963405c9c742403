"""A frozen Redis must not slow the requests that a throttle guards.

The throttles' Redis here is a redis-server of the test's own, frozen with SIGSTOP (a Redis that
accepts connections and never answers is the worst case: nothing fails fast). The first request
waits at most the client's timeout; then the circuit is open and requests do not touch Redis at
all until it closes; after SIGCONT the throttle counts again.

"Not touched" is counted by Redis itself, not timed: while it is frozen the kernel still completes
every connection to it, and after SIGCONT it accepts them all, so `total_connections_received`
shows each request that tried. (Timing it flaked: a pause of the test process made a request
that never asked Redis take 0.4 s on a busy CI machine.)
"""

import logging
import signal
import time

import pytest
import redis

from tests.transactions.requests import TRANSACTIONS

from .processes import free_port, redis_server

TIMEOUT_MS = 150
CIRCUIT_SECONDS = 2


@pytest.fixture
def frozen_redis(settings):
    """The throttles' own Redis, answering; the test freezes it."""
    port = free_port()
    with redis_server(port) as process:
        settings.THROTTLE_REDIS_URL = f"redis://127.0.0.1:{port}/0"
        settings.THROTTLE_REDIS_TIMEOUT_MS = TIMEOUT_MS
        settings.THROTTLE_CIRCUIT_SECONDS = CIRCUIT_SECONDS
        settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "transfer": "3/day"}
        process.monitor = redis.Redis(port=port)  # one connection, kept: it adds no count of its own
        try:
            yield process
        finally:
            process.send_signal(signal.SIGCONT)
            process.monitor.close()


def _connections_received(redis_process) -> int:
    return redis_process.monitor.info("stats")["total_connections_received"]


def _timed_post(client):
    start = time.perf_counter()
    response = client.post(TRANSACTIONS, {}, format="json")  # throttled first, then a 400
    return response.status_code, time.perf_counter() - start


def test_a_frozen_redis_costs_one_short_timeout_then_nothing(auth_client, frozen_redis, caplog):
    assert _timed_post(auth_client)[0] == 400  # counted once; the client now holds a connection
    connections_before = _connections_received(frozen_redis)
    frozen_redis.send_signal(signal.SIGSTOP)

    with caplog.at_level(logging.WARNING, logger="ledger_project.throttling"):
        answers = [_timed_post(auth_client) for _ in range(5)]

    statuses, seconds = [a[0] for a in answers], [a[1] for a in answers]
    assert statuses == [400] * 5  # the throttle failed open
    # A bound with room for a busy machine; without the client's short timeout the first request
    # waits for as long as Redis is frozen (with the cache's old 1 s timeout, 1.01 s).
    assert seconds[0] < 5 * TIMEOUT_MS / 1000, seconds
    assert len([r for r in caplog.records if "throttles off" in r.getMessage()]) == 1

    frozen_redis.send_signal(signal.SIGCONT)
    # The first asked on the connection it held (and dropped it); the circuit kept the rest away.
    assert _connections_received(frozen_redis) == connections_before
    time.sleep(CIRCUIT_SECONDS + 0.2)
    after = [_timed_post(auth_client)[0] for _ in range(4)]

    # 3 a minute, with at most the one counted above in this window: throttled again.
    assert 429 in after, after
    assert set(after[: after.index(429)]) == {400}
