# Two commands after cloning: `make run` (the service) and `make test` (the suite).
# Both expect PostgreSQL and Redis on their default local ports (or DATABASE_URL / REDIS_URL),
# and stop with one clear line if either is not there.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
export DJANGO_SETTINGS_MODULE ?= ledger_project.settings.local

.PHONY: run test venv preflight migrate demo-user check-compose clean bank-check

# Install requirements when the venv is new or requirements.txt changed.
$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

preflight: venv
	@$(PY) -m ledger_project.preflight --create-db

migrate: preflight
	$(PY) manage.py migrate --noinput

# The demo system user can fund accounts; its password comes from DEMO_SYSTEM_USER_PASSWORD,
# or is generated and printed the first time.
demo-user: migrate
	@SYSTEM_USER_PASSWORD="$$DEMO_SYSTEM_USER_PASSWORD" $(PY) manage.py create_system_user --no-input \
		--email "$${DEMO_SYSTEM_USER_EMAIL:-system@ledger.local}" --name "$${DEMO_SYSTEM_USER_NAME:-Ledger System}"

# web (gunicorn on 127.0.0.1:8000), worker and beat together; Ctrl-C stops all three.
run: demo-user
	$(VENV)/bin/honcho start

test: venv
	@$(PY) -m ledger_project.preflight
	$(PY) -m pytest $(PYTEST_ARGS)

# Jepsen-style bank check against a gunicorn of its own on a scratch database (README, "Bank check"),
# e.g. make bank-check ARGS="--seconds 60 --clients 32 --nemesis"
bank-check: venv
	@$(PY) -m ledger_project.preflight
	$(PY) bench/bank_check.py $(ARGS)

check-compose:
	docker compose config --quiet

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
