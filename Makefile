# Every target creates .venv on first use, so a fresh clone needs nothing but python3.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-api reliability clean examples import-measure

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	PRIORAUTH_DEMO_KEYS=1 $(BIN)/priorauth serve

# The service tests run on SQLite and, when the machine has PostgreSQL, on PostgreSQL too.
test: $(STAMP)
	PRIORAUTH_TEST_POSTGRES_URL="$$(scripts/postgres-for-tests.sh)" $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/bench_engine.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

examples: $(STAMP)
	$(BIN)/priorauth evaluate examples/*-*.json

# A real server, a burst of submissions, kill -9, restart: every acknowledged case is there once.
reliability: $(STAMP)
	PRIORAUTH_TEST_POSTGRES_URL="$$(scripts/postgres-for-tests.sh)" $(BIN)/python scripts/reliability.py

# A load generator in its own process drives POST /cases at rising rates, SQLite and PostgreSQL.
bench-api: $(STAMP)
	PRIORAUTH_TEST_POSTGRES_URL="$$(scripts/postgres-for-tests.sh)" $(BIN)/python bench/api/run.py

# The importer on our corpus of documents in every layout, and on the held-out set: per layout,
# imported, typed share, unplaced lines, criteria typed to a wrong meaning (must be 0).
import-measure: $(STAMP)
	$(BIN)/python -m priorauth.importer.measure tests/corpus tests/corpus/held_out
