from django.apps import AppConfig
from django.db.backends.signals import connection_created


class LedgerProjectConfig(AppConfig):
    """The project's own setup that belongs to no app: how its database connections load values."""

    name = "ledger_project"

    def ready(self):
        from .db_loaders import use_compiled_timestamptz_loader

        connection_created.connect(use_compiled_timestamptz_loader)
