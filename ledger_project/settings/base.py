"""Settings shared by every environment; each value comes from the environment or `.env`.

Every variable read here is listed, with its default, in README.md ("Configuration").
"""

import base64
import hashlib
import ipaddress
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from ledger_project import defaults, logs

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

# Every signing key written in this repository, now or before (git keeps them): the defaults
# here and in docker-compose.yml, the example in .env.example. They are public, so production
# refuses them (signing_key_refusal); tests/security/test_production.py fails when a tracked file
# holds a key that is not in this list.
DEVELOPMENT_SECRET_KEY = "insecure-local-development-key-change-me-0123456789"
PUBLIC_KEYS = frozenset(
    {
        DEVELOPMENT_SECRET_KEY,
        "insecure-compose-development-key-change-me",
        "change-me",
        "bench-floor-served-only-on-loopback-never-secret",  # bench/floor/settings.py
    }
)


def signing_key_refusal(key: str) -> str | None:
    """Why `key` may not sign sessions or tokens in production, or None if it may."""
    if key in PUBLIC_KEYS:
        return "is written in this repository, so anyone can sign with it"
    if len(key) < 50 or len(set(key)) < 5:
        return "is too weak: use at least 50 random characters"
    return None


SECRET_KEY = env("SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "axes",
    "django_prometheus",
    "authn",
    "accounts",
    "transactions",
    "notifications",
    "events",
    "webhooks",
    # Last: the project's own setup (ledger_project/apps.py), after every app it may rely on.
    "ledger_project",
]

MIDDLEWARE = [
    # First and last (see below): request counts and latencies for /metrics, each refusal included.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Every log line of the request, refusals included, carries its id.
    "ledger_project.middleware.RequestIdMiddleware",
    # Before anything that reads the URL: nothing below may see a NUL in the path or query
    # string (PostgreSQL cannot hold one).
    "ledger_project.middleware.NulCharacterMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Early, so a request that waited too long in the queue costs nothing more.
    "ledger_project.middleware.RequestQueueTimeoutMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, so that its 413 still passes through every response header above.
    "ledger_project.middleware.RequestBodyLimitMiddleware",
    # A GET whose database connection broke runs again on a new one (ledger_project.db_retry);
    # innermost, so only the view runs again.
    "ledger_project.db_retry.DbReadRetryMiddleware",
    # Turns a locked-out admin login into its 429 (django-axes wants to be last).
    "axes.middleware.AxesMiddleware",
]
# Larger request bodies are a JSON 413 (ledger_project.middleware); a proxy in front should
# refuse them even earlier. Batches have their own, larger limit: 1,000 transfers must fit.
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=65536)
BATCH_MAX_REQUEST_BODY_BYTES = env.int("BATCH_MAX_REQUEST_BODY_BYTES", default=204_800)
# Django's own check, behind the middleware's per-route one: the larger of the two.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(MAX_REQUEST_BODY_BYTES, BATCH_MAX_REQUEST_BODY_BYTES)
# Proxies in front (nginx, deploy/nginx/) whose X-Forwarded-For and X-Request-Start are trusted.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# A request that waited longer than this behind the proxy is answered 503 unrun: its client
# has most likely given up (ledger_project.middleware.RequestQueueTimeoutMiddleware).
REQUEST_QUEUE_TIMEOUT_MS = env.int("REQUEST_QUEUE_TIMEOUT_MS", default=2000)

ROOT_URLCONF = "ledger_project.urls"
WSGI_APPLICATION = "ledger_project.wsgi.application"
# Routes have no trailing slash (as in the seed clients); never redirect a POST to add one.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The project's own templates: the admin home with the dashboard (admin/index.html).
        "DIRS": [BASE_DIR / "ledger_project" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=defaults.DATABASE_URL)}
# Django's PostgreSQL backend, counting connections, queries, their errors and durations for
# /metrics: tens of microseconds per query (README, "Metrics"); METRICS_DB_QUERIES=false keeps
# Django's own backend.
METRICS_DB_QUERIES = env.bool("METRICS_DB_QUERIES", default=True)
if METRICS_DB_QUERIES and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
# Connections come from a psycopg pool per process (Django's native pool; it needs CONN_MAX_AGE=0),
# so a process never holds more than DB_POOL_MAX_SIZE of them: gunicorn's threads share their
# worker's pool, and connections idle past DB_POOL_MAX_IDLE_SECONDS (above one) are closed. The web
# can then never hold every connection the server has and starve the Celery worker; preflight
# checks that all processes together fit under max_connections (ledger_project/preflight.py).
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=env.int("WEB_THREADS", default=4))
DATABASES["default"]["CONN_MAX_AGE"] = 0
# With a pool this is psycopg_pool's check: an empty query each time a connection is lent (no
# parse, no plan, unlike the SELECT 1 of persistent connections), so a restarted PostgreSQL costs
# no failed request.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A request never waits longer than this for a row lock (a hot account, a lock held by an
# operator's session), nor runs a statement longer than the second: it gives up with 503 and
# writes nothing, and its thread serves the next request instead of hanging.
DB_LOCK_TIMEOUT_MS = env.int("DB_LOCK_TIMEOUT_MS", default=1000)
DB_STATEMENT_TIMEOUT_MS = env.int("DB_STATEMENT_TIMEOUT_MS", default=5000)
# A request whose database connection broke (a switchover, a failover, a restarted server) is run
# again on a new connection for up to this long, with a doubling pause between attempts (50 ms up
# to 1 s); then it answers 503. Writes retry with their idempotency key (ledger_project.db_retry).
# 0 turns the retries off.
DB_RETRY_SECONDS = env.float("DB_RETRY_SECONDS", default=15.0)
# A batch locks up to a couple of thousand accounts and holds them while it writes, so batches
# sharing an account queue behind each other longer than transfers do: their own lock wait
# (transactions.batches; the statement timeout still bounds it).
BATCH_LOCK_TIMEOUT_MS = env.int("BATCH_LOCK_TIMEOUT_MS", default=4000)
DATABASES["default"].setdefault("OPTIONS", {}).update(
    {
        "options": f"-c lock_timeout={DB_LOCK_TIMEOUT_MS} -c statement_timeout={DB_STATEMENT_TIMEOUT_MS}",
        # Parameters bound by the server, not quoted into the SQL text by psycopg in Python; a
        # statement sent prepare_threshold times on one pooled connection is then prepared, so
        # PostgreSQL stops parsing and planning the hot path's few statements (issue 11, measured).
        "server_side_binding": True,
        "prepare_threshold": env.int("DB_PREPARE_THRESHOLD", default=5),
        "pool": {
            "min_size": min(1, DB_POOL_MAX_SIZE),
            "max_size": DB_POOL_MAX_SIZE,
            # Waiting longer than this for a free connection is a 503, like any database error.
            "timeout": env.float("DB_POOL_TIMEOUT_SECONDS", default=5.0),
            "max_idle": env.float("DB_POOL_MAX_IDLE_SECONDS", default=60.0),
            # psycopg_pool retries a failed connection with a doubling delay (1, 2, 4, 8 s ...) for
            # as long as this; past it, the next request tries at once. Its default of 5 minutes
            # kept a web process off a promoted standby for 22 s after a failover (make ha-check):
            # a database gone for seconds must cost seconds, not a backoff that grew meanwhile.
            "reconnect_timeout": env.float("DB_POOL_RECONNECT_TIMEOUT_SECONDS", default=2.0),
        },
    }
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A read replica for reads that may lag (README, "High availability"): off unless
# DATABASE_REPLICA_URL is set. The alias gets the primary's pool and timeouts; only the selectors
# that opt in with ledger_project.db_router.replica_alias() read from it. Tests never create a
# database on it: it mirrors the primary's test database.
DATABASE_ROUTERS = ["ledger_project.db_router.PrimaryRouter"]
if env("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    DATABASES["replica"].update(
        {
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {**DATABASES["default"]["OPTIONS"], **DATABASES["replica"].get("OPTIONS", {})},
            "TEST": {"MIRROR": "default"},
        }
    )

# --- Redis: Celery broker, the cache, and (in the cache's database) throttle counters ----------
REDIS_URL = env("REDIS_URL", default=defaults.REDIS_URL)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env("CACHE_URL", default="redis://localhost:6379/1"),
        "KEY_PREFIX": "ledger",
        # Fail fast when Redis is down.
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}

# --- Identity -------------------------------------------------------------------------------
AUTH_USER_MODEL = "authn.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("ACCESS_TOKEN_LIFETIME_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("REFRESH_TOKEN_LIFETIME_DAYS", default=3)),
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default=SECRET_KEY),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    # A password change invalidates every token issued before it.
    "CHECK_REVOKE_TOKEN": True,
    "UPDATE_LAST_LOGIN": False,
}
# The admin's login form locks out a client address, and an account, after
# ADMIN_LOGIN_FAILURE_LIMIT failures: every attempt, the right password too, is then a JSON 429
# until ADMIN_LOGIN_COOLOFF_MINUTES pass without one. Attempts are rows in PostgreSQL (shown in
# the admin). The API login has its own throttle and skips django-axes (authn.services.user_login).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_ONLY_ADMIN_SITE = True
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ADMIN_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]  # each one alone locks
AXES_CLIENT_IP_CALLABLE = "ledger_project.throttling.client_address"
AXES_USERNAME_CALLABLE = "authn.lockout.admin_login_account"
AXES_LOCKOUT_CALLABLE = "authn.lockout.admin_login_locked"

AUTH_COOKIE_NAME = "token"
AUTH_COOKIE_SECURE = env.bool("AUTH_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = AUTH_COOKIE_SECURE
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "ledger_project.views.csrf_failure"

# --- Django REST framework ------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["authn.authentication.CookieOrBearerJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["ledger_project.parsers.ExactJSONParser"],
    "EXCEPTION_HANDLER": "ledger_project.exceptions.api_exception_handler",
    # camelCase like every other key on the wire, and the handler's own key for list errors.
    "NON_FIELD_ERRORS_KEY": "nonFieldErrors",
    "DEFAULT_SCHEMA_CLASS": "ledger_project.schema.AutoSchema",
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Read on every request by ledger_project.throttling, so they can change without a restart of tests.
THROTTLE_RATES = {
    "login": env("THROTTLE_LOGIN", default="10/min"),
    "register": env("THROTTLE_REGISTER", default="10/hour"),
    "transfer": env("THROTTLE_TRANSFER", default="120/min"),
    "batch": env("THROTTLE_BATCH", default="30/min"),
}
# The throttles' counters; by default in the cache's Redis database.
THROTTLE_REDIS_URL = env("THROTTLE_REDIS_URL", default=CACHES["default"]["LOCATION"])
# A request never waits on that Redis longer than this; a failure lets every request through
# without asking Redis for the circuit's seconds (ledger_project/throttling.py).
THROTTLE_REDIS_TIMEOUT_MS = env.int("THROTTLE_REDIS_TIMEOUT_MS", default=150)
THROTTLE_CIRCUIT_SECONDS = env.int("THROTTLE_CIRCUIT_SECONDS", default=5)

SPECTACULAR_SETTINGS = {
    "TITLE": "Ledger API",
    "DESCRIPTION": "Double-entry banking ledger. See API.md for the contract.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc assets come from drf-spectacular-sidecar: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
}

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = bool(CORS_ALLOWED_ORIGINS)

# --- Money ----------------------------------------------------------------------------------
SUPPORTED_CURRENCIES = env.list("SUPPORTED_CURRENCIES", default=["INR", "USD", "EUR", "GBP", "BDT"])
DEFAULT_CURRENCY = env("DEFAULT_CURRENCY", default="INR")
try:
    # Range-checked at start-up by accounts.checks.
    MAX_TRANSFER_AMOUNT = Decimal(env("MAX_TRANSFER_AMOUNT", default="1000000000.00"))
except ArithmeticError as exc:
    raise ImproperlyConfigured("MAX_TRANSFER_AMOUNT must be a decimal number, like 1000000000.00.") from exc
MAX_ACCOUNTS_PER_USER = env.int("MAX_ACCOUNTS_PER_USER", default=20)
# Limits every new customer account starts with (API.md, "Limits and simple fraud rules"):
# amounts as decimal text in the account's currency, the daily count a whole number; unset means
# none. Operators change them per account afterwards. Checked at start-up by accounts.checks.
ACCOUNT_DEFAULT_LIMITS = {
    "overdraft_limit": env("ACCOUNT_DEFAULT_OVERDRAFT_LIMIT", default=None),
    "max_balance": env("ACCOUNT_DEFAULT_MAX_BALANCE", default=None),
    "per_transfer_max": env("ACCOUNT_DEFAULT_PER_TRANSFER_MAX", default=None),
    "daily_debit_amount": env("ACCOUNT_DEFAULT_DAILY_DEBIT_AMOUNT", default=None),
    "daily_debit_count": env.int("ACCOUNT_DEFAULT_DAILY_DEBIT_COUNT", default=None),
    "monthly_debit_amount": env("ACCOUNT_DEFAULT_MONTHLY_DEBIT_AMOUNT", default=None),
}
# A hold's `expiresIn` (seconds): API.md's 60..2592000, default 7 days. Only the bank check's
# stack lowers the minimum, so that it can watch holds expire within a short run.
HOLD_MIN_EXPIRES_IN_SECONDS = env.int("HOLD_MIN_EXPIRES_IN_SECONDS", default=60)
HOLD_MAX_EXPIRES_IN_SECONDS = 2_592_000
HOLD_DEFAULT_EXPIRES_IN_SECONDS = 604_800
# Events (GET /api/events), and webhook deliveries with their attempts, are kept this many days;
# beat purges older ones (events.tasks, webhooks.tasks).
EVENT_RETENTION_DAYS = env.int("EVENT_RETENTION_DAYS", default=30)
# Transfers one batch request may carry (API.md "Batches": 1..1000).
BATCH_MAX_TRANSFERS = env.int("BATCH_MAX_TRANSFERS", default=1000)

# --- Operations -----------------------------------------------------------------------------
# /api/health answers only {status} to anyone but staff and system users unless this is on.
HEALTH_DETAILS_PUBLIC = env.bool("HEALTH_DETAILS_PUBLIC", default=False)
# Who may read /metrics (ledger_project/metrics.py): clients from these networks, by the address
# the throttles see (behind TRUSTED_PROXY_COUNT proxies, the one they forwarded), or whoever
# sends `Authorization: Bearer <METRICS_BEARER_TOKEN>` when that is set. Anyone else: 404.
try:
    METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(network.strip(), strict=False)
        for network in env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
        if network.strip()
    ]
except ValueError as exc:
    raise ImproperlyConfigured(
        f"METRICS_ALLOWED_NETWORKS: {exc} (addresses or CIDR networks, comma-separated)"
    ) from exc
METRICS_BEARER_TOKEN = env("METRICS_BEARER_TOKEN", default="")

# --- Email (through the outbox in notifications/) -------------------------------------------
_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email["EMAIL_HOST"] or "localhost"
EMAIL_PORT = _email["EMAIL_PORT"] or 25
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"] or ""
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"] or ""
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS", False))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL", False))
EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"]  # filemail:///path
# The send holds its outbox row's lock (notifications.services.outbox_email_send): a mail server
# that accepts and then says nothing must not hold it for ever (Django's default: no timeout).
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Ledger <no-reply@ledger.local>")
# The relay's lease: a row handed to a worker and still unsent this much later is handed over again.
OUTBOX_REDISPATCH_AFTER_SECONDS = env.int("OUTBOX_REDISPATCH_AFTER_SECONDS", default=60)
OUTBOX_RELAY_CHUNK_SIZE = env.int("OUTBOX_RELAY_CHUNK_SIZE", default=50)
# A passing mail failure is retried after this long, then twice as long each time; after the last
# attempt the row is marked failed. A refusal for good (a 5xx for the address) fails it at once.
OUTBOX_RETRY_BACKOFF_SECONDS = env.int("OUTBOX_RETRY_BACKOFF_SECONDS", default=30)
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=8)

# --- Webhooks (webhooks/; README, "For integrators") ----------------------------------------
# Fernet keys that encrypt endpoints' signing secrets at rest: the first encrypts, every one
# decrypts (add a new key first, run `manage.py rotate_webhook_encryption_key`, then drop the old).
# Production requires them; elsewhere a key derived from SECRET_KEY stands in.
WEBHOOK_SECRET_KEYS = env.list("WEBHOOK_SECRET_KEYS", default=[]) or [
    base64.urlsafe_b64encode(hashlib.sha256(f"webhook-secrets:{SECRET_KEY}".encode()).digest()).decode()
]
# Loopback, private addresses and plain http for endpoints: only local and test settings turn it on.
WEBHOOK_ALLOW_PRIVATE_URLS = False
WEBHOOK_MAX_ENDPOINTS_PER_USER = env.int("WEBHOOK_MAX_ENDPOINTS_PER_USER", default=10)
# A 2xx within this is delivered; anything else (no answer in time included) is retried.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Retries: from this, doubling, capped, with jitter, for up to the window (3 days); an endpoint
# failing for the whole window is disabled and its owner emailed.
WEBHOOK_RETRY_BACKOFF_SECONDS = env.int("WEBHOOK_RETRY_BACKOFF_SECONDS", default=30)
WEBHOOK_RETRY_MAX_DELAY_SECONDS = env.int("WEBHOOK_RETRY_MAX_DELAY_SECONDS", default=6 * 3600)
WEBHOOK_RETRY_WINDOW_SECONDS = env.int("WEBHOOK_RETRY_WINDOW_SECONDS", default=3 * 86400)
# The relay's lease: a delivery handed to a worker and not attempted this much later is handed
# over again (its worker died). Above WEBHOOK_TIMEOUT_SECONDS.
WEBHOOK_LEASE_SECONDS = env.int("WEBHOOK_LEASE_SECONDS", default=60)
WEBHOOK_RELAY_BATCH_SIZE = env.int("WEBHOOK_RELAY_BATCH_SIZE", default=200)

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged only after it ran, and requeued if its worker dies: tasks are idempotent.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Only the outbox relay publishes (in a worker, never in a request): if Redis is down it fails
# fast and gives its rows back for the next run.
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 1,
    "socket_timeout": 2,
    "max_retries": 0,
    # A message taken by a worker that died unacknowledged is delivered again after this long.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
CELERY_TASK_PUBLISH_RETRY = False
# Backstops for a task that hangs (EMAIL_TIMEOUT covers a silent mail server first): the soft limit
# raises inside the task, so its transaction rolls back and its row locks go; the hard one kills
# the worker process. Both well under the visibility timeout, or the broker would hand a
# still-running task to a second worker.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Beat's record of when each entry last ran: under the project, one per checkout (var/ is
# gitignored), never a path in /tmp shared by every copy on the machine.
CELERY_BEAT_SCHEDULE_FILENAME = env(
    "CELERY_BEAT_SCHEDULE_FILENAME", default=str(BASE_DIR / "var" / "celerybeat-schedule")
)
# What a task prints (the console email backend prints every email) is logged at INFO, not at
# Celery's default WARNING: it is output, not a problem (ledger_project/celery.py).
CELERY_WORKER_REDIRECT_STDOUTS_LEVEL = "INFO"


def cron_schedule(expression):
    """A crontab line ("minute hour day-of-month month day-of-week", UTC) as a Celery schedule;
    Celery's own positional order differs, hence the names."""
    minute, hour, day_of_month, month_of_year, day_of_week = expression.split()
    return crontab(
        minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year, day_of_week=day_of_week
    )


CELERY_BEAT_SCHEDULE = {
    "purge-expired-blacklisted-tokens": {
        "task": "authn.tasks.blacklist_purge_expired",
        "schedule": env.int("BLACKLIST_PURGE_INTERVAL_SECONDS", default=3600),
    },
    "verify-ledger-nightly": {
        "task": "transactions.tasks.ledger_audit",
        "schedule": cron_schedule(env("LEDGER_AUDIT_CRON", default="30 2 * * *")),
    },
    # Expired holds count for nothing at once (checked exactly under the locks); this only
    # releases their `held` so that the stored column and the reads catch up.
    "expire-holds": {
        "task": "transactions.tasks.holds_expire",
        "schedule": env.float("HOLDS_EXPIRE_INTERVAL_SECONDS", default=30.0),
        "options": {"expires": 60},
    },
    # Deletes events past EVENT_RETENTION_DAYS, in batches; a missed run only keeps them longer.
    "purge-old-events": {
        "task": "events.tasks.events_purge",
        "schedule": env.int("EVENT_PURGE_INTERVAL_SECONDS", default=3600),
        "options": {"expires": 600},
    },
    # The worst delay of an email is about this interval: the relay hands new rows to the workers.
    "relay-webhooks": {
        "task": "webhooks.tasks.webhook_relay",
        "schedule": env.float("WEBHOOK_RELAY_INTERVAL_SECONDS", default=2.0),
        "options": {"expires": 10},
    },
    "purge-webhook-deliveries": {
        "task": "webhooks.tasks.webhook_deliveries_purge",
        "schedule": cron_schedule(env("WEBHOOK_PURGE_CRON", default="15 3 * * *")),
    },
    "relay-outbox-emails": {
        "task": "notifications.tasks.outbox_relay",
        "schedule": env.float("OUTBOX_RELAY_INTERVAL_SECONDS", default=1.0),
        # A relay message stuck behind a backlog is dropped: a newer one follows every interval.
        "options": {"expires": 10},
    },
}

# --- The rest -------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# WhiteNoise serves the admin's and the API docs' assets from the apps directly; production
# collects and compresses them instead (settings/production.py).
WHITENOISE_USE_FINDERS = True
# JSON lines with the request's or task's id (ledger_project/logs.py).
LOGGING = logs.logging_config(env("LOG_LEVEL", default="INFO"))
