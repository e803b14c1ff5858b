# The two commands a newcomer types are `make test` and `make demo`; both build their own
# environment from nothing (Python 3.11-3.13 and pip are all they need).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export AUTOSCALER_HOME ?= $(CURDIR)/.autoscaler
STAMP := $(VENV)/.installed

.PHONY: install browser lint typecheck test test-long unit demo bench celery chaos scale constraints clean

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@echo "Installing the pinned dependencies into $(VENV): about 200 packages, 2 to 5 minutes the first time"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25"
	$(BIN)/python -m pip install --progress-bar on -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Debian's Chromium and its driver for the page's browser test (tests/api/test_page.py).
# Installed when missing on a Debian or Ubuntu machine (as root, or with sudo); elsewhere the
# browser test is skipped with a message saying how to run it.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium and chromium-driver for the browser test"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null \
		|| { $$SUDO apt-get update -q >/dev/null && \
		     $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; }; \
	else echo "no apt-get: the browser test will be skipped (install chromium and chromedriver to run it)"; fi

# Every test: unit, integration against a real PostgreSQL (the embedded one unless
# AUTOSCALER_TEST_DB_URL names another), the API in Airflow's API server, the page in
# headless Chromium; after lint and type checks.
test: lint typecheck browser
	$(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

# The tests `make test` leaves out to stay under ~15 minutes here (marked long): twenty more
# random worlds for the oracle's bound, a second seed of the stationary allocator test, the
# compose init run twice against PostgreSQL, the time policy's two 2-day backtests.
test-long: $(STAMP)
	$(BIN)/python -m pytest -m long

# The hourly DAG over a simulated day: embedded PostgreSQL, the Meta sandbox, dag.test().
# Says how long it took, the install included.
demo:
	@start=$$(date +%s); $(MAKE) --no-print-directory install && $(BIN)/autoscaler demo; status=$$?; \
	echo "make demo: $$(( $$(date +%s) - start )) s in all, the install included"; exit $$status

bench: $(STAMP)
	$(BIN)/python -m bench

# The real hourly DAG for 48 simulated hours x 5 Meta accounts and a Google Ads customer under
# injected faults (5xx, timeouts, throttling, failing batch calls, expired tokens, a crash
# between a platform write and the commit); exits non-zero unless nothing was applied twice,
# the platforms' history equals the executed actions, no action is left open, no snapshot hour
# is missing and no token is in any log.  Each part's report is printed when it ends.
# Then a 7-day backfill under the same faults through a real scheduler: 0 write requests.
chaos: $(STAMP)
	$(BIN)/python -m tests.dags.chaos --hours 48 --backfill-days 7

# How far one live run of the real DAG gets in 10 minutes on this machine: 100 accounts x
# 1,000 budget holders, scheduler + LocalExecutor, PostgreSQL metadata (bench/dag_scale.py).
scale: $(STAMP)
	$(BIN)/python -m bench.dag_scale --minutes 10

# The hourly DAG on CeleryExecutor: a Redis broker (the one on 127.0.0.1:6379, else a
# redis-server it starts), PostgreSQL metadata, scheduler, triggerer, API server and two
# Celery workers; checks that both workers ran per-account tasks and that the audit trail
# equals a single process's for the same hours.  See docs/deploy.md.
celery: $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-celery.txt -c constraints.txt
	AUTOSCALER_CELERY=1 $(BIN)/python -m pytest tests/dags/test_celery.py -s -p no:cacheprovider

# Re-lock transitive versions after changing requirements.txt.
constraints: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^airflow-meta-autoscaler' > constraints.txt

clean:
	-$(BIN)/autoscaler db stop 2>/dev/null
	rm -rf $(VENV) .autoscaler .mypy_cache .ruff_cache .pytest_cache
