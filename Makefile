# Two commands after cloning: `make run` (the service) and `make test` (the suite).
# Both expect PostgreSQL and Redis on their default local ports (or DATABASE_URL / REDIS_URL),
# and stop with one clear line if either is not there.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
# Development settings for make run and the commands around it (the entry points default to
# production, which refuses the development keys); `make test` uses the test settings.
export DJANGO_SETTINGS_MODULE ?= ledger_project.settings.local

.PHONY: ha-up ha-down ha-check ha-tools run test lint venv preflight migrate demo-user proxy-tools check-compose clean bank-check bench bench-smoke bench-profile bench-tools

# Install requirements/local.txt (production's packages, tests, tools) when the venv is new or
# any requirements file changed: local.txt includes the others.
$(STAMP): $(wildcard requirements/*.txt)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/local.txt
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

# nginx from Debian's packages when missing (deploy/tools.sh, as root): the edge of `make run`,
# and driven by tests/faults/test_proxy.py.
proxy-tools:
	@bash deploy/tools.sh

# Debian's chromium when missing (deploy/browser_tools.sh, as root): Playwright drives it in
# tests/browser/, which skip with the reason where it cannot be installed.
.PHONY: browser-tools
browser-tools:
	@bash deploy/browser_tools.sh

# proxy (nginx on 127.0.0.1:8000) in front of web (gunicorn on 127.0.0.1:8001), worker and beat
# together; Ctrl-C stops all four.
run: demo-user proxy-tools
	$(VENV)/bin/honcho start

# Lint and format check (pyproject.toml); .ci/run runs it before the tests.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: venv proxy-tools browser-tools
	@$(PY) -m ledger_project.preflight
	DJANGO_SETTINGS_MODULE=ledger_project.settings.test $(PY) -m pytest $(PYTEST_ARGS)

# Jepsen-style bank check against a gunicorn and a redis-server of its own on a scratch database
# (README, "Bank check"),
# e.g. make bank-check ARGS="--seconds 60 --clients 32 --nemesis"
bank-check: venv
	@$(PY) -m ledger_project.preflight
	$(PY) -m tests.bankcheck $(ARGS)

# Benchmarks (README, "Benchmarks"): the service under load beside its references (the floor app,
# sql_ceiling, sql_minimal) on scratch databases; the report is bench/results/latest.md. The tools
# come from Debian's packages and the bench's own Python requirements (matplotlib, py-spy) from
# bench/requirements.txt.
BENCH_STAMP := $(VENV)/.bench-requirements-installed
$(BENCH_STAMP): bench/requirements.txt $(STAMP)
	$(PY) -m pip install --quiet -r bench/requirements.txt
	touch $(BENCH_STAMP)

bench-tools: $(BENCH_STAMP)
	@bash bench/tools.sh
	@$(PY) -m ledger_project.preflight

# Every scenario 30 s at 1, 4, 16 and 64 clients (about 25 minutes), e.g. make bench ARGS="--seconds 10"
bench: bench-tools
	$(PY) bench/run.py $(ARGS)

# Every scenario 3 s at 4 clients on a small seed: checks correctness (no error, verify_ledger), never speed.
bench-smoke: bench-tools
	$(PY) bench/run.py --smoke $(ARGS)

# transfer at 16 clients under py-spy: where a request's time goes.
bench-profile: bench-tools
	$(PY) bench/run.py --scenarios transfer --clients 16 --profile --results bench/results/profile $(ARGS)

# High availability (README, "High availability"): a pg_auto_failover formation on local ports
# (a monitor, a primary and a synchronous standby, run as the postgres user) under HA_DIR
# (default /tmp/ledger-ha, whose ha.env gives its DATABASE_URL); pg_auto_failover from Debian's
# packages (deploy/ha/tools.sh, as root). ha-check is the failover fault test (tests/ha/) against
# it, e.g. make ha-check ARGS="--phase-seconds 30"; it is not part of make test.
ha-tools:
	@bash deploy/ha/tools.sh

ha-up: ha-tools
	bash deploy/ha/up.sh

ha-down:
	bash deploy/ha/down.sh

ha-check: venv
	$(PY) -m tests.ha $(ARGS)

# With the Compose plugin, or Debian's docker-compose.
check-compose:
	@if docker compose version >/dev/null 2>&1; then docker compose config --quiet; else docker-compose config -q; fi

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
