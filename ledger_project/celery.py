import logging
import logging.config
import os

import structlog
from celery import Celery, signals

# Production unless told otherwise: it refuses the development keys instead of signing with them.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ledger_project.settings.production")

app = Celery("ledger_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def logging_setup(loglevel=None, **kwargs):
    """The worker and beat log like the web (settings.LOGGING: JSON lines) instead of Celery's own
    format; `--loglevel` still sets the level. Connecting here also stops Celery's own setup,
    stdout redirect included, so the redirect is asked for again, at its configured level."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)
    if app.conf.worker_redirect_stdouts:
        app.log.redirect_stdouts(app.conf.worker_redirect_stdouts_level)


@signals.task_prerun.connect
def task_context_bind(task_id=None, task=None, **kwargs):
    """Every line a task logs carries its id and name."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(task_id=task_id, task=task.name)


@signals.task_postrun.connect
def task_context_clear(**kwargs):
    structlog.contextvars.clear_contextvars()
