# Everything a developer or CI runs. Set-up is idempotent: .venv is reused while it is current.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo demo-ui test test-under-load test-services test-distributed lint bench chaos clean

setup: $(STAMP)

# Re-installs only when pyproject.toml changed since the last install (or .venv is missing).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[test,services]'
	@touch $@

# The dailies DAG end to end under a real Airflow (scheduler, triggerer, DAG processor, API server)
# against the sandbox; stops everything it started. demo-ui leaves both running until Ctrl-C.
demo: $(STAMP)
	$(BIN)/python -m lockit_provider.demo

demo-ui: $(STAMP)
	$(BIN)/python -m lockit_provider.demo --ui

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check lockit_provider
	$(BIN)/mypy

# The default tier: needs only Python 3.11 (SQLite, servers it starts itself on 127.0.0.1).
test: lint
	$(BIN)/python -m pytest

# `make test` three times in a row beside two CPU-burning processes; each run's wall time and result.
test-under-load: $(STAMP)
	.ci/test_under_load.sh

# Tests that need PostgreSQL and Redis on 127.0.0.1.
test-services: $(STAMP)
	$(BIN)/python -m pytest -m services -o addopts='-ra'

# A real CeleryExecutor deployment (API server, scheduler, DAG processor, triggerer, two Celery worker
# hosts) on the PostgreSQL and Redis at 127.0.0.1; it installs the Celery provider itself.
DIST_STAMP := $(VENV)/.installed-distributed
$(DIST_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[test,services,distributed]'
	@touch $@

test-distributed: $(DIST_STAMP)
	$(BIN)/python -m pytest -m distributed -o addopts='-ra' -s tests/distributed

.PHONY: docs dist screenshots test-compat

# The Sphinx site in docs/_build/html, warnings as errors (the API reference is built by autodoc).
DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[docs]'
	@touch $@

docs: $(DOCS_STAMP)
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html

# The sdist and wheel in dist/, checked by twine and for the example DAGs, LICENSE and entry point.
DIST_TOOLS_STAMP := $(VENV)/.installed-dist
$(DIST_TOOLS_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dist]'
	@touch $@

dist: $(DIST_TOOLS_STAMP)
	rm -rf dist
	$(BIN)/python -m build -o dist .
	$(BIN)/twine check --strict dist/*
	$(BIN)/python .ci/check_dist.py dist

# docs/connection-form.png: a real Chromium (Debian's) drives a real api-server's connection form.
# Not in CI. Installs chromium with apt-get and playwright with pip when they are missing.
screenshots: $(STAMP)
	@command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)
	@$(BIN)/python -c 'import playwright' 2>/dev/null || $(BIN)/python -m pip install -q playwright
	$(BIN)/python docs/screenshots.py

# The unit tier and one real-scheduler e2e test on the lowest Airflow pyproject.toml admits and on the
# newest, each in its own venv under .venv-compat/ (reused while current).
test-compat: $(STAMP)
	PYTHON=$(PYTHON) $(BIN)/python .ci/compat.py

bench: $(STAMP)
	@for b in $(filter-out bench/chaos_refresh.py,$(wildcard bench/*.py)); do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Kill test (several minutes): SIGKILL refreshes at random points, provider vs naive requests-oauthlib,
# lockouts side by side per refresh policy. `make test` runs it at a small count (tests/hardening).
CHAOS_ITERATIONS ?= 100
chaos: $(STAMP)
	$(BIN)/python bench/chaos_refresh.py --iterations $(CHAOS_ITERATIONS)

clean:
	rm -rf $(VENV) .venv-compat .mypy_cache .pytest_cache .ruff_cache build dist docs/_build *.egg-info
