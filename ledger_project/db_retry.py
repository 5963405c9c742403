"""A request survives the database connection it was using: retried inside the request, on a new
connection, when the connection broke, the server went away or no server accepted writes yet (a
switchover, a failover, a restart), for at most DB_RETRY_SECONDS (README, "High availability").

Writes retry the whole service call (`db_retry` on the ledger and hold services) with the same
idempotency key. If the first attempt's COMMIT landed before the connection broke, the retry
finds the key claimed and replays the stored outcome: nothing is applied twice. It answers as
the write it is (201, not a replay) when the claim it replays is one this very call made: the
claim's id is a sequence value no other request can have, so the test is exact.

Reads (GET, HEAD) are safe to run again: DbReadRetryMiddleware re-runs the view. What a write
request reads before its service (the token's user, authn.authentication) retries by itself.
One budget, DB_RETRY_SECONDS from the request's start, bounds them all.

Only outside an atomic block: inside one, the caller's transaction died with the connection and
only the caller can redo it. Every other database error (a lock or statement timeout, a
constraint) is no connection lost and is not retried: the exception handler answers it as before.
"""

import contextlib
import contextvars
import functools
import logging
import time

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, connections

logger = logging.getLogger(__name__)

# SQLSTATEs that say "this connection, or this server, cannot take the statement", not "this
# statement is wrong": 08xxx connection exceptions, 57P01 admin_shutdown (a fast shutdown, the
# switchover's old primary), 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up or
# shutting down), 25006 read_only_sql_transaction (a server that is no longer the primary).
LOST_SQLSTATES = {"57P01", "57P02", "57P03", "25006"}

FIRST_DELAY = 0.05
LONGEST_DELAY = 1.0

# The idempotency claims the current db_retry call has made, attempt after attempt (None outside one).
_claims: contextvars.ContextVar[set | None] = contextvars.ContextVar("db_retry_claims", default=None)
# When the current request's retries must stop: one budget however the retries nest (a GET run
# again whose authentication retried too).
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("db_retry_deadline", default=None)


@contextlib.contextmanager
def retry_budget():
    """DB_RETRY_SECONDS from now for every retry inside, unless an outer block set the budget."""
    if _deadline.get() is not None:
        yield
        return
    token = _deadline.set(time.monotonic() + settings.DB_RETRY_SECONDS)
    try:
        yield
    finally:
        _deadline.reset(token)


def connection_lost(exc: BaseException) -> bool:
    """Whether a database error means the connection or its server failed, so that the same work
    on a new connection may succeed."""
    if not isinstance(exc, DatabaseError):
        return False
    cause = exc.__cause__
    if isinstance(cause, psycopg.Error):
        # psycopg's own errors (a broken socket, a failed connect, the pool's timeout) carry no
        # SQLSTATE: the server never answered the statement.
        state = cause.sqlstate
        return state is None or state.startswith("08") or state in LOST_SQLSTATES
    # Django's own "connection already closed".
    return isinstance(exc, InterfaceError)


def connection_discard(alias: str = DEFAULT_DB_ALIAS):
    """Drop the thread's connection so the next query gets a new one: the raw connection is closed
    first, so the pool discards it instead of lending it again (it may still reach a server that
    now refuses writes)."""
    conn = connections[alias]
    raw = conn.connection
    if raw is not None:
        try:
            raw.close()
        except Exception:  # already broken: nothing to close
            pass
    try:
        conn.close()
    except DatabaseError:
        conn.connection = None


def retry_while_lost(call, *, what: str, alias: str = DEFAULT_DB_ALIAS):
    """`call()`, again on a new connection each time it fails with a lost connection, until it
    succeeds or DB_RETRY_SECONDS have passed (then the last error goes to the exception handler:
    a 503 as ever). No retry inside an atomic block."""
    if connections[alias].in_atomic_block:
        return call()
    with retry_budget():
        return _retried(call, what=what, alias=alias)


def _retried(call, *, what, alias):
    delay = FIRST_DELAY
    attempt = 1
    while True:
        try:
            return call()
        except DatabaseError as exc:
            if not connection_lost(exc) or connections[alias].in_atomic_block:
                raise
            if time.monotonic() + delay > _deadline.get():
                logger.warning("%s: connection lost, retries spent after %d attempts: %s", what, attempt, exc)
                raise
            logger.warning("%s: connection lost (attempt %d), retrying on a new one: %s", what, attempt, exc)
            connection_discard(alias)
            time.sleep(delay)
            delay = min(delay * 2, LONGEST_DELAY)
            attempt += 1


def db_retry(service):
    """A write service retried on a lost connection, with the same arguments, so the same
    idempotency key (see the module's docstring)."""

    @functools.wraps(service)
    def retried(*args, **kwargs):
        token = _claims.set(set())
        try:
            return retry_while_lost(lambda: service(*args, **kwargs), what=service.__name__)
        finally:
            _claims.reset(token)

    return retried


def claim_made(claim_id: int):
    """Record a claim this call made (the ledger's _idempotency_claim): if the attempt is lost
    after its commit, the retry's replay of this claim is this call's own write."""
    claims = _claims.get()
    if claims is not None:
        claims.add(claim_id)


def claim_is_own(claim_id: int) -> bool:
    """Whether a key found already claimed was claimed by an earlier attempt of this very call."""
    claims = _claims.get()
    return claims is not None and claim_id in claims


class DbReadRetryMiddleware:
    """GET and HEAD run again on a new connection when the database connection was lost: they
    change nothing. The exception handler marks the 503 it makes of a lost connection
    (`error_response`), which is how a lost connection looks from here."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with retry_budget():
            if request.method not in ("GET", "HEAD"):
                return self.get_response(request)
            return self._read(request)

    def _read(self, request):
        delay = FIRST_DELAY
        while True:
            response = self.get_response(request)
            if not getattr(response, "db_connection_lost", False) or time.monotonic() + delay > _deadline.get():
                return response
            logger.warning("%s %s: connection lost, running it again", request.method, request.path)
            for alias in connections:  # the primary's or the replica's: whichever broke
                connection_discard(alias)
            time.sleep(delay)
            delay = min(delay * 2, LONGEST_DELAY)
