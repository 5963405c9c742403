"""Endpoint signing secrets: made, encrypted at rest, and read back for signing.

A secret is `whsec_` + base64 of 32 random bytes (the Standard Webhooks form). The database holds
only its Fernet token under WEBHOOK_SECRET_KEYS: the first key encrypts, every key decrypts
(MultiFernet), so the keys can be rotated (README, "Rotating WEBHOOK_SECRET_KEYS"; the command
`rotate_webhook_encryption_key` re-encrypts every row under the first key).
"""

import base64
import secrets

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SECRET_PREFIX = "whsec_"


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in settings.WEBHOOK_SECRET_KEYS])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "WEBHOOK_SECRET_KEYS must be a comma-separated list of Fernet keys; generate one with "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        ) from exc


def secret_encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def secret_decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def secret_reencrypt(token: str) -> str:
    """The same secret under the first key (MultiFernet.rotate); a token already under it too."""
    return _fernet().rotate(token.encode()).decode()
