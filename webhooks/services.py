"""Webhook endpoints, and the delivery of events to them (API.md "Events and webhooks").

Nothing here runs on the request path but the endpoint writes. Beat's `webhook_relay` fans new
events out into one delivery row per matching endpoint and hands the due deliveries to the
workers, one message each, leased like the email outbox (notifications.services.outbox_relay);
`webhook_deliver` makes one attempt under the delivery's row lock, records it, and either ends
the delivery or schedules the next attempt. Delivery is at least once: an attempt whose worker dies
before its commit is made again, with the same `webhook-id`.
"""

import json
import logging
import random
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework.fields import DateTimeField
from standardwebhooks.webhooks import Webhook

from events.models import Event, EventType
from notifications.services import email_enqueue

from .exceptions import EventNotFoundError, WebhookDisabledError, WebhookLimitReachedError
from .keys import secret_decrypt, secret_encrypt, secret_generate, secret_reencrypt
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .transport import WebhookResponse, webhook_post

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status
# API.md: "the old secret keeps signing for 24 h too".
PREVIOUS_SECRET_SIGNS_FOR = timedelta(hours=24)
EVENT_FAMILIES = frozenset(value.split(".", 1)[0] for value in EventType.values)


# --- Event type patterns ----------------------------------------------------------------------


def event_pattern_valid(pattern: str) -> bool:
    """`*`, an event type (`transaction.completed`) or a family of them (`transaction.*`)."""
    if pattern == "*" or pattern in EventType.values:
        return True
    return pattern.endswith(".*") and pattern[:-2] in EVENT_FAMILIES


def event_type_matches(patterns, event_type: str) -> bool:
    return any(
        pattern in ("*", event_type) or (pattern.endswith(".*") and event_type.startswith(pattern[:-1]))
        for pattern in patterns
    )


# --- Endpoints ----------------------------------------------------------------------------------


def webhook_endpoint_create(*, user, url: str, events: list[str], description: str = "") -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret, which is returned this once and stored only encrypted.
    The owner's row is locked so that two creations at once cannot pass the limit together."""
    secret = secret_generate()
    with transaction.atomic():
        type(user).objects.select_for_update().filter(pk=user.pk).first()
        if WebhookEndpoint.objects.filter(user=user).count() >= settings.WEBHOOK_MAX_ENDPOINTS_PER_USER:
            raise WebhookLimitReachedError()
        endpoint = WebhookEndpoint.objects.create(
            user=user, url=url, events=events, description=description, secret_encrypted=secret_encrypt(secret)
        )
    return endpoint, secret


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, changes: dict) -> WebhookEndpoint:
    """Apply `changes` (url, events, description, enabled). Enabling clears the reason it was
    disabled and its failure streak; disabling cancels its pending deliveries."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        for name in ("url", "events", "description"):
            if name in changes:
                setattr(endpoint, name, changes[name])
        enabled = changes.get("enabled")
        if enabled is True and not endpoint.enabled:
            endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = True, "", None
            endpoint.failing_since = None
        elif enabled is False and endpoint.enabled:
            _endpoint_disable(endpoint, reason=WebhookEndpoint.DisabledReason.OWNER, now=timezone.now())
        endpoint.save()
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Its deliveries and attempts go with it; a worker sending one of them right now holds the
    delivery's lock, so the delete waits for that attempt to end."""
    endpoint.delete()


def webhook_secret_rotate(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> tuple[WebhookEndpoint, str]:
    """A new secret (returned this once); the current one keeps signing beside it for 24 hours,
    so a receiver can switch without missing a message. A third secret is never kept: a rotation
    during the overlap drops the oldest."""
    now = now or timezone.now()
    secret = secret_generate()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret_encrypted = endpoint.secret_encrypted
        endpoint.previous_secret_expires_at = now + PREVIOUS_SECRET_SIGNS_FOR
        endpoint.secret_encrypted = secret_encrypt(secret)
        endpoint.save(update_fields=["previous_secret_encrypted", "previous_secret_expires_at", "secret_encrypted"])
    return endpoint, secret


def webhook_test_send(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A `webhook.test` message to the endpoint, delivered (and retried) like any event."""
    if not endpoint.enabled:
        raise WebhookDisabledError()
    return WebhookDelivery.objects.create(
        endpoint=endpoint, message_id=f"test_{uuid.uuid4()}", trigger=WebhookDelivery.Trigger.TEST
    )


def event_redeliver(*, user, event_id) -> list[WebhookDelivery]:
    """New deliveries of the caller's event to each of the caller's enabled endpoints whose
    patterns match it now, with the event's id as `webhook-id` as before."""
    event = Event.objects.filter(id=event_id, user=user).first()
    if event is None:
        raise EventNotFoundError()
    endpoints = WebhookEndpoint.objects.filter(user=user, enabled=True).order_by("created_at")
    return WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint, event=event, message_id=str(event.id), trigger=WebhookDelivery.Trigger.REDELIVERY
        )
        for endpoint in endpoints
        if event_type_matches(endpoint.events, event.type)
    )


# --- The relay ----------------------------------------------------------------------------------


def webhook_relay() -> tuple[int, int]:
    """Fan new events out, then hand the due deliveries over; returns (created, handed)."""
    return webhook_fanout(), webhook_deliveries_hand_over()


def webhook_fanout(*, batch_size: int | None = None, max_batches: int = 20) -> int:
    """One delivery per (pending event, enabled endpoint of its user that matches its type), and
    the event marked done, in one transaction per batch: an event is fanned out once, whatever
    crashes. SKIP LOCKED lets relays running at once share the backlog. Returns the deliveries
    created."""
    batch_size = batch_size or settings.WEBHOOK_RELAY_BATCH_SIZE
    created = 0
    for _ in range(max_batches):
        with transaction.atomic():
            events = list(
                Event.objects.filter(webhooks_pending=True)
                .order_by("created_at")
                .select_for_update(skip_locked=True)
                .only("id", "user_id", "type")[:batch_size]
            )
            if not events:
                break
            endpoints = defaultdict(list)
            for endpoint in WebhookEndpoint.objects.filter(
                user_id__in={event.user_id for event in events}, enabled=True
            ).only("id", "user_id", "events"):
                endpoints[endpoint.user_id].append(endpoint)
            rows = [
                WebhookDelivery(endpoint=endpoint, event_id=event.id, message_id=str(event.id))
                for event in events
                for endpoint in endpoints[event.user_id]
                if event_type_matches(endpoint.events, event.type)
            ]
            WebhookDelivery.objects.bulk_create(rows)
            Event.objects.filter(id__in=[event.id for event in events]).update(webhooks_pending=False)
            created += len(rows)
        if len(events) < batch_size:
            break
    return created


def webhook_deliveries_hand_over(*, limit: int | None = None) -> int:
    """Lease the due deliveries (SKIP LOCKED: one a worker is sending is not due) and, after the
    commit, hand each to a worker in a message of its own, so that one slow receiver holds up
    no other. A delivery whose message is lost, or whose worker died, is due again when its lease
    ends. A broker failure gives the leases back for the next run."""
    limit = limit or settings.WEBHOOK_RELAY_BATCH_SIZE
    lease = uuid.uuid4()
    with transaction.atomic():
        due = (
            WebhookDelivery.objects.due(timezone.now())
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True, of=("self",))
        )
        ids = list(due.values_list("id", flat=True)[:limit])
        leased_until = timezone.now() + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
        WebhookDelivery.objects.filter(id__in=ids).update(next_attempt_at=leased_until, lease=lease)
    if ids and not _deliveries_publish(lease, ids):
        WebhookDelivery.objects.filter(id__in=ids, lease=lease).update(next_attempt_at=timezone.now(), lease=None)
        return 0
    return len(ids)


def _deliveries_publish(lease: uuid.UUID, ids: list[int]) -> bool:
    from .tasks import webhook_deliver

    try:
        for delivery_id in ids:
            webhook_deliver.apply_async(args=[str(lease), delivery_id], retry=False)
    except Exception:
        logger.warning("webhook deliveries %s not handed over (broker unavailable); the next relay retries", ids)
        return False
    return True


# --- One attempt --------------------------------------------------------------------------------


def webhook_body(delivery: WebhookDelivery) -> bytes:
    """The Standard Webhooks body, the same bytes on every attempt: `{type, timestamp, data}` with
    the event's type, its time and its data (the object as the API showed it to the owner)."""
    to_text = DateTimeField().to_representation
    if delivery.event_id is None:
        payload = {
            "type": WebhookDelivery.TEST_EVENT_TYPE,
            "timestamp": to_text(delivery.created_at),
            "data": {"webhookId": str(delivery.endpoint_id)},
        }
    else:
        event = delivery.event
        payload = {"type": event.type, "timestamp": to_text(event.created_at), "data": event.data}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def webhook_signing_secrets(endpoint: WebhookEndpoint, *, now: datetime) -> list[str]:
    """The current secret, then the previous one while it still signs."""
    secrets = [secret_decrypt(endpoint.secret_encrypted)]
    if endpoint.previous_secret_encrypted and endpoint.previous_secret_expires_at > now:
        secrets.append(secret_decrypt(endpoint.previous_secret_encrypted))
    return secrets


def webhook_headers(*, message_id: str, body: bytes, secrets: list[str], sent_at: datetime) -> dict:
    signatures = " ".join(Webhook(secret).sign(msg_id=message_id, timestamp=sent_at, data=body) for secret in secrets)
    return {
        "Content-Type": "application/json",
        "User-Agent": "ledger-webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signatures,
    }


def webhook_deliver(*, delivery_id: int, lease: str | None = None, now: datetime | None = None) -> bool:
    """Make one attempt of a pending delivery; True if it was delivered now.

    `lease` is the relay's (None: any, for operators and tests): a message whose lease the
    delivery no longer has sends nothing. The delivery's row stays locked (SKIP LOCKED: a second
    message for it gives up at once) from the check to the record of the attempt, so one attempt
    is made once; if the worker dies in between, nothing is recorded and the relay hands the
    delivery over again when its lease ends. `now` is the clock for scheduling (tests move it);
    the signature's timestamp is always the wall clock, which receivers check.
    """
    with transaction.atomic():
        query = WebhookDelivery.objects.filter(id=delivery_id, status=Status.PENDING)
        if lease is not None:
            query = query.filter(lease=lease)
        delivery = query.select_for_update(skip_locked=True, of=("self",)).select_related("endpoint", "event").first()
        if delivery is None:
            return False
        now = now or timezone.now()
        endpoint = delivery.endpoint
        if not endpoint.enabled:
            _delivery_end(delivery, status=Status.FAILED, now=now, error="the endpoint is disabled")
            return False
        body = webhook_body(delivery)
        headers = webhook_headers(
            message_id=delivery.message_id,
            body=body,
            secrets=webhook_signing_secrets(endpoint, now=now),
            sent_at=timezone.now(),
        )
        response = webhook_post(url=endpoint.url, body=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
        _attempt_record(delivery, response, now=now)
    return delivery.status == Status.DELIVERED


def _attempt_record(delivery: WebhookDelivery, response: WebhookResponse, *, now: datetime) -> None:
    """Log the attempt and decide what follows. Call inside `webhook_deliver`'s atomic block,
    with the delivery locked; the endpoint is locked here, after it (always in that order)."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
    WebhookAttempt.objects.create(
        delivery=delivery,
        endpoint=endpoint,
        attempted_at=now,
        status_code=response.status_code,
        duration_ms=response.duration_ms,
        response_body=response.body,
        error=response.error,
    )
    delivery.attempts += 1
    delivery.lease = None
    code = response.status_code
    logger.info(
        "webhook delivery %s to endpoint %s, attempt %d: %s in %d ms%s",
        delivery.id,
        endpoint.id,
        delivery.attempts,
        code if code is not None else "no answer",
        response.duration_ms,
        f" ({response.error})" if response.error else "",
    )
    if code is not None and 200 <= code < 300 and not response.error:
        if endpoint.failing_since is not None:
            endpoint.failing_since = None
            endpoint.save(update_fields=["failing_since"])
        _delivery_end(delivery, status=Status.DELIVERED, now=now)
        return

    error = response.error or f"HTTP {code}"
    if not endpoint.enabled:  # disabled by its owner while this attempt was out
        _delivery_end(delivery, status=Status.FAILED, now=now, error=f"{error}; the endpoint is disabled")
        return
    if code == 410:
        _delivery_end(delivery, status=Status.FAILED, now=now, error=error)
        _endpoint_disable(endpoint, reason=WebhookEndpoint.DisabledReason.GONE, now=now, keep=delivery.id)
        endpoint.save()
        return

    window = timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS)
    if endpoint.failing_since is None:
        endpoint.failing_since = now
        endpoint.save(update_fields=["failing_since"])
    next_attempt_at = now + timedelta(seconds=webhook_retry_delay(delivery.attempts, retry_after(response, now=now)))
    if next_attempt_at <= delivery.created_at + window and now - endpoint.failing_since < window:
        delivery.next_attempt_at, delivery.last_error = next_attempt_at, error
        delivery.save(update_fields=["attempts", "lease", "next_attempt_at", "last_error"])
        return
    _delivery_end(delivery, status=Status.FAILED, now=now, error=f"{error}; gave up after {delivery.attempts} attempts")
    # The endpoint is disabled when it has failed for the whole window: every attempt of a
    # delivery that ran out of time, and nothing delivered to it since its first one (or a streak
    # of failures across deliveries as long as the window).
    first_attempt_at = min(delivery.attempt_rows.values_list("attempted_at", flat=True))
    if endpoint.failing_since <= first_attempt_at or now - endpoint.failing_since >= window:
        _endpoint_disable(endpoint, reason=WebhookEndpoint.DisabledReason.FAILING, now=now, keep=delivery.id)
        endpoint.save()


def webhook_retry_delay(attempts: int, retry_after_seconds: float | None = None, *, rng=random.random) -> float:
    """Seconds before the next attempt after `attempts` failed ones: exponential from
    WEBHOOK_RETRY_BACKOFF_SECONDS, capped at WEBHOOK_RETRY_MAX_DELAY_SECONDS, with "equal
    jitter" (between half and all of it, so that receivers back from an outage are not hit by
    every sender at once), and never sooner than the receiver's Retry-After."""
    ceiling = min(
        settings.WEBHOOK_RETRY_BACKOFF_SECONDS * 2 ** (attempts - 1), settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS
    )
    delay = ceiling / 2 + rng() * ceiling / 2
    if retry_after_seconds is not None:
        delay = max(delay, retry_after_seconds)
    return delay


def retry_after(response: WebhookResponse, *, now: datetime) -> float | None:
    """The answer's Retry-After in seconds (delta-seconds or an HTTP date), or None."""
    value = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


def _delivery_end(delivery: WebhookDelivery, *, status: str, now: datetime, error: str = "") -> None:
    delivery.status, delivery.lease = status, None
    if status == Status.DELIVERED:
        delivery.delivered_at, delivery.last_error = now, ""
    else:
        delivery.failed_at, delivery.last_error = now, error
    delivery.save(update_fields=["status", "attempts", "lease", "delivered_at", "failed_at", "last_error"])


DISABLED_SUBJECT = "Ledger: your webhook endpoint was disabled"
DISABLED_BODY = (
    "Hello {name},\n\n"
    "Your webhook endpoint {url} (id {id}) was disabled: {why}.\n"
    "Its pending deliveries were cancelled. Once it answers again, enable it with\n"
    'PATCH /api/webhooks/{id} {{"enabled": true}} and redeliver the events you missed with\n'
    "POST /api/events/{{id}}/redeliver.\n"
)
DISABLED_WHY = {
    WebhookEndpoint.DisabledReason.GONE: "it answered 410 Gone",
    WebhookEndpoint.DisabledReason.FAILING: "every delivery to it failed for {days:g} days",
}


def _endpoint_disable(endpoint: WebhookEndpoint, *, reason: str, now: datetime, keep: int | None = None) -> None:
    """Mark the (locked) endpoint disabled, the caller saves it; cancel its pending deliveries but
    `keep` and those a worker is sending (SKIP LOCKED: waiting for them could deadlock with that
    worker, which finds the endpoint disabled and ends its delivery itself); email the owner
    unless the owner did it."""
    endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = False, reason, now
    pending = (
        WebhookDelivery.objects.filter(endpoint=endpoint, status=Status.PENDING)
        .exclude(id=keep)
        .select_for_update(skip_locked=True)
    )
    WebhookDelivery.objects.filter(id__in=list(pending.values_list("id", flat=True))).update(
        status=Status.FAILED, failed_at=now, lease=None, last_error="the endpoint was disabled"
    )
    if reason in DISABLED_WHY:
        why = DISABLED_WHY[reason].format(days=settings.WEBHOOK_RETRY_WINDOW_SECONDS / 86400)
        owner = endpoint.user
        email_enqueue(
            to=owner.email,
            subject=DISABLED_SUBJECT,
            body=DISABLED_BODY.format(name=owner.name, url=endpoint.url, id=endpoint.id, why=why),
        )
    logger.warning("webhook endpoint %s disabled (%s)", endpoint.id, reason)


# --- Retention ----------------------------------------------------------------------------------


def webhook_deliveries_purge(*, now: datetime | None = None, batch_size: int = 1000) -> int:
    """Delete deliveries (and their attempts) created more than EVENT_RETENTION_DAYS ago, or of an
    event that old (made a moment after it: the event purge must find none left pointing at its
    events), in batches so that no statement holds many locks for long; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EVENT_RETENTION_DAYS)
    old = WebhookDelivery.objects.filter(Q(created_at__lt=cutoff) | Q(event__created_at__lt=cutoff))
    purged = 0
    while ids := list(old.values_list("id", flat=True)[:batch_size]):
        WebhookAttempt.objects.filter(delivery_id__in=ids).delete()
        purged += WebhookDelivery.objects.filter(id__in=ids).delete()[1].get("webhooks.WebhookDelivery", 0)
    return purged


def webhook_secrets_reencrypt(*, batch_size: int = 500) -> int:
    """Every endpoint's secrets under the first of WEBHOOK_SECRET_KEYS, a batch of locked rows per
    transaction (a rotation or delivery at the same time waits for its rows, then sees them
    re-encrypted: the secrets themselves do not change). Returns how many endpoints."""
    done, last_id = 0, None
    while True:
        with transaction.atomic():
            query = WebhookEndpoint.objects.order_by("id").select_for_update()
            if last_id is not None:
                query = query.filter(id__gt=last_id)
            endpoints = list(query[:batch_size])
            for endpoint in endpoints:
                endpoint.secret_encrypted = secret_reencrypt(endpoint.secret_encrypted)
                if endpoint.previous_secret_encrypted:
                    endpoint.previous_secret_encrypted = secret_reencrypt(endpoint.previous_secret_encrypted)
            WebhookEndpoint.objects.bulk_update(endpoints, ["secret_encrypted", "previous_secret_encrypted"])
        if not endpoints:
            return done
        done += len(endpoints)
        last_id = endpoints[-1].id
