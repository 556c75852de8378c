# tenantproof: `make demo` and `make test` are all a new machine needs (Python 3.11 + venv).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export TENANTPROOF_HOME ?= $(CURDIR)/data
export DAGSTER_HOME := $(TENANTPROOF_HOME)/dagster

.PHONY: install manifest demo test test-spark dev lint format clean bench dashboard

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# The dbt manifest Dagster loads; built here, never at import time.
manifest: install
	$(BIN)/dbt parse --profiles-dir profiles --project-dir . --quiet

demo: manifest
	$(BIN)/tenantproof demo --tenants 12 --events 20000

test: manifest
	$(BIN)/pytest -q

# The same project built on Spark (pyspark, local mode) and compared row by row with DuckDB.
$(VENV)/.spark-installed: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[dev,spark]"
	touch $@

test-spark: manifest $(VENV)/.spark-installed
	$(BIN)/pytest -q tests_spark

dev: manifest
	$(PY) -c "from tenantproof.core.settings import Settings; Settings.from_environment().home.ensure()"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dagster dev -m orchestration.definitions

# The analysts' dashboard on the home's analytics snapshot (written by `tenantproof build`);
# it reads Parquet only, never the warehouse file, and needs no network. A set address also
# keeps Streamlit from looking up the machine's external IP; DASHBOARD_ADDRESS=0.0.0.0 shares it.
DASHBOARD_ADDRESS ?= 127.0.0.1
dashboard: install
	$(BIN)/streamlit run dashboard/app.py --browser.gatherUsageStats false \
		--server.headless true --server.address $(DASHBOARD_ADDRESS) --client.toolbarMode minimal

# ruff for Python; import-linter for the package layers (pyproject.toml [tool.importlinter]).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/sqlfluff lint models macros

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The benchmark (figures in the README): 10M events x 1,000 tenants; BENCH_ARGS=--quick for 1M.
bench: manifest
	$(BIN)/tenantproof bench $(BENCH_ARGS)

clean:
	rm -rf data target logs .pytest_cache
