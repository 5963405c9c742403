import os

from celery import Celery

# Production unless told otherwise: it refuses the development keys instead of signing with them.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ledger_project.settings.production")

app = Celery("ledger_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
