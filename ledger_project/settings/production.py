"""Production, the default of every entry point (wsgi, manage.py, celery, the image): refuses to
start without real signing keys or with DEBUG on."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env, signing_key_refusal

SECRET_KEY = env("SECRET_KEY")  # no default: a missing key stops the process
if DEBUG:  # noqa: F405
    raise ImproperlyConfigured("DEBUG must be off in production.")

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
AUTH_COOKIE_SECURE = True
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True

STATIC_ROOT = BASE_DIR / "staticfiles"  # noqa: F405  (collectstatic, in the image build)
WHITENOISE_USE_FINDERS = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# base.py derived the JWT key from its development default; derive it again from the real one.
SIMPLE_JWT["SIGNING_KEY"] = env("JWT_SIGNING_KEY", default=SECRET_KEY)  # noqa: F405

for _name, _key in (("SECRET_KEY", SECRET_KEY), ("JWT_SIGNING_KEY", SIMPLE_JWT["SIGNING_KEY"])):  # noqa: F405
    if _refusal := signing_key_refusal(_key):
        raise ImproperlyConfigured(
            f"{_name} {_refusal}. Generate one: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )

# The endpoints' signing secrets are encrypted with these; a key derived from SECRET_KEY would sit
# beside the dump in any backup of the settings, so production names its own.
WEBHOOK_SECRET_KEYS = env.list("WEBHOOK_SECRET_KEYS", default=[])
if not WEBHOOK_SECRET_KEYS:
    raise ImproperlyConfigured(
        "WEBHOOK_SECRET_KEYS is required. Generate one: "
        "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
    )
WEBHOOK_ALLOW_PRIVATE_URLS = False
