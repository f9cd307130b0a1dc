# Everything a developer or CI runs. Set-up is idempotent: .venv is reused while it is current.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo demo-ui test test-services lint bench clean

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

# Tests that need PostgreSQL and Redis on 127.0.0.1.
test-services: $(STAMP)
	$(BIN)/python -m pytest -m services -o addopts='-ra'

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
