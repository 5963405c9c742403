import os

from django.core.wsgi import get_wsgi_application

# Production unless told otherwise: it refuses the development keys instead of signing with them.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ledger_project.settings.production")

application = get_wsgi_application()
