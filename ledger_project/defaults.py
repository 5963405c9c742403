"""The local defaults of the service's addresses, written once: the settings, the preflight check
and the bench read them when the environment names none. No imports, so any of them can."""

DATABASE_URL = "postgres://localhost:5432/ledger"
REDIS_URL = "redis://localhost:6379/0"
