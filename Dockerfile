# One image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=ledger_project.settings.production

WORKDIR /app
# Production's packages only: no test runner, fuzzer or linter in the image.
COPY requirements/base.txt requirements/production.txt requirements/
RUN pip install --no-cache-dir -r requirements/production.txt

COPY . .
# The admin's and the API docs' assets for production's manifest storage; a throwaway key only
# lets the production settings load (the container gets its real one at run time).
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" python manage.py collectstatic --noinput
RUN useradd --create-home --uid 1000 ledger && chown -R ledger /app
USER ledger

# gunicorn as shipped (deploy/gunicorn.conf.py); nginx is the edge in front of it (compose).
ENV WEB_BIND=0.0.0.0:8000
EXPOSE 8000
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "ledger_project.wsgi"]
