"""Signing secrets at rest: encrypted under WEBHOOK_SECRET_KEYS (a dump alone cannot sign), the
keys rotated by putting a new one first and re-encrypting, production refusing to start without
its own keys."""

import subprocess
import sys

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import connection

from webhooks.keys import secret_decrypt
from webhooks.models import WebhookEndpoint
from webhooks.services import webhook_secret_rotate, webhook_signing_secrets

from ..security.test_production import BASE_DIR, _production_env

pytestmark = pytest.mark.django_db


def stored(endpoint_id) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret_encrypted, previous_secret_encrypted FROM webhooks_webhookendpoint WHERE id = %s",
            [endpoint_id],
        )
        return cursor.fetchone()


def test_the_database_holds_no_secret_and_another_key_cannot_read_it(user, endpoint_of, settings):
    endpoint, secret = endpoint_of(user, "https://hooks.example.com/x")

    current, _ = stored(endpoint.id)
    assert secret not in current and secret[6:] not in current
    assert secret_decrypt(current) == secret
    settings.WEBHOOK_SECRET_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(InvalidToken):
        secret_decrypt(current)


def test_rotating_the_encryption_key_re_encrypts_every_secret_under_the_new_key(user, endpoint_of, settings):
    old_key = settings.WEBHOOK_SECRET_KEYS[0]
    endpoint, _ = endpoint_of(user, "https://hooks.example.com/x")
    endpoint, secret = webhook_secret_rotate(endpoint=endpoint)
    before = WebhookEndpoint.objects.get()
    signing = webhook_signing_secrets(before, now=before.previous_secret_expires_at.replace(year=2000))

    new_key = Fernet.generate_key().decode()
    settings.WEBHOOK_SECRET_KEYS = [new_key, old_key]  # the new one encrypts, both decrypt
    call_command("rotate_webhook_encryption_key", stdout=open("/dev/null", "w"))
    settings.WEBHOOK_SECRET_KEYS = [new_key]  # the old key is gone

    after = WebhookEndpoint.objects.get()
    assert stored(after.id) != (before.secret_encrypted, before.previous_secret_encrypted)
    assert webhook_signing_secrets(after, now=after.previous_secret_expires_at.replace(year=2000)) == signing
    assert signing[0] == secret


def test_production_refuses_to_start_without_its_own_encryption_keys():
    env = {key: value for key, value in _production_env().items() if key != "WEBHOOK_SECRET_KEYS"}

    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode != 0
    assert "WEBHOOK_SECRET_KEYS is required" in result.stderr
