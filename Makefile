# Every target creates .venv on first use, so a fresh clone needs nothing but python3.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BASE_STAMP := $(VENV)/.installed-base

.PHONY: run test lint bench bench-batch bench-counts differential bench-api bench-queue reliability clean examples fuzz bench-claims test-web import-measure soak attack

# `make run` and `make examples` need the package alone: the service, the workbench, the engine.
$(BASE_STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $(BASE_STAMP)

# The tests, the lint and the benchmarks: the development tools and every extra (the claims
# review, and Spark, which the tests compare with DuckDB).
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,spark]'
	touch $(STAMP) $(BASE_STAMP)

run: $(BASE_STAMP)
	PRIORAUTH_DEMO_KEYS=1 $(BIN)/priorauth serve

# The service tests run on SQLite and, when the machine has PostgreSQL, on PostgreSQL too.
test: $(STAMP)
	PRIORAUTH_TEST_POSTGRES_URL="$$(scripts/postgres-for-tests.sh)" $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/mypy

# The engine side by side with the tightest hand-written rule (Lumakras, then a mixed workload of
# other areas: weight management, a PCSK9 inhibitor, testosterone), then the batch command;
# figures go to var/bench/ (outside the tracked tree).
bench: $(STAMP)
	$(BIN)/python bench/bench_engine.py
	$(BIN)/python bench/bench_areas.py
	$(BIN)/python bench/bench_batch.py

bench-batch: $(STAMP)
	$(BIN)/python bench/bench_batch.py

# Instructions and cache misses per request, engine and hand-written rule, counted under
# valgrind (deterministic where timings on a shared machine are not; about four minutes).
bench-counts: $(STAMP)
	$(BIN)/python bench/bench_counts.py

# The compiled path against the explaining path on a million seeded requests (a few minutes).
differential: $(STAMP)
	$(BIN)/python bench/differential.py --n 1000000 --seed 1

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

examples: $(BASE_STAMP)
	$(BIN)/priorauth evaluate examples/*-*.json

# A real server, a burst of submissions, kill -9, restart: every acknowledged case is there once.
reliability: $(STAMP)
	PRIORAUTH_TEST_POSTGRES_URL="$$(scripts/postgres-for-tests.sh)" $(BIN)/python scripts/reliability.py

# A load generator in its own process drives POST /cases at rising rates, SQLite and PostgreSQL;
# then POST /cases and PAS Claim/$submit in turn on PostgreSQL, printed side by side.
bench-api: $(STAMP)
	PRIORAUTH_TEST_POSTGRES_URL="$$(scripts/postgres-for-tests.sh)" $(BIN)/python bench/api/run.py
	PRIORAUTH_TEST_POSTGRES_URL="$$(scripts/postgres-for-tests.sh)" $(BIN)/python bench/api/run.py \
		--api cases,fhir --databases postgresql --workers 2 --rates 25,50,100,150 \
		--ceiling-rates "" --out-suffix=-side-by-side

# GET /queue's first page and a middle page with 100, 10,000 and 100,000 cases in review,
# SQLite and PostgreSQL, through a real server (about 6 minutes).
bench-queue: $(STAMP)
	PRIORAUTH_TEST_POSTGRES_URL="$$(scripts/postgres-for-tests.sh)" $(BIN)/python bench/api/queue_pages.py

# schemathesis over the whole API (JSON, FHIR, CDS Hooks, the token endpoint) on SQLite and
# PostgreSQL, many more cases than `make test`
# (FUZZ_EXAMPLES generated cases per operation, on top of the examples and coverage cases).
FUZZ_EXAMPLES ?= 300
fuzz: $(STAMP)
	PRIORAUTH_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) PRIORAUTH_TEST_POSTGRES_URL="$$(scripts/postgres-for-tests.sh)" $(BIN)/pytest tests/service/test_service_fuzz.py

# Claims reviewed per minute, 1M and 10M synthetic claims from Parquet, DuckDB and Spark side by
# side (the data is generated under data/bench-claims/ on first use; about 15 minutes).
bench-claims: $(STAMP)
	$(BIN)/python bench/claims/run.py

# The workbench's tests alone, the browser ones included (screenshots in var/screenshots/).
test-web: $(STAMP)
	$(BIN)/pytest tests/web

# The importer on our corpus of documents in every layout, and on the held-out set: per layout,
# imported, typed share, unplaced lines, criteria typed to a wrong meaning (must be 0).
import-measure: $(STAMP)
	$(BIN)/python -m priorauth.importer.measure tests/corpus tests/corpus/held_out

# The real service (2 workers, 127.0.0.1) through mixed JSON API, PAS, CRD and DTR traffic at 18
# requests/s for 10 minutes: RSS per worker, p99 per minute, 5xx, cases lost or duplicated
# (docs/operations.md). SOAK_ARGS="--minutes 3" or "--db postgres" to change it.
SOAK_ARGS ?=
soak: $(STAMP)
	PRIORAUTH_TEST_POSTGRES_URL="$$(scripts/postgres-for-tests.sh)" $(BIN)/python scripts/soak.py $(SOAK_ARGS)

# Every API route (FHIR, CDS Hooks, JSON API, token) with malformed, oversize, wrongly typed,
# unauthenticated and wrongly authenticated requests, read off the socket: no 5xx, honest
# Content-Length, the route's error shape, the server still up.
attack: $(STAMP)
	$(BIN)/python scripts/attack.py
