# Every target installs what it needs first: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export MARKETDATA_VAR_DIR ?= var
# first trading date of the sample data (testkit/sierra_sample.py SAMPLE_DATES[0]): with the
# sample data, the date partitions start there instead of 2020-01-01
SAMPLE_START := 2024-03-07
# ...and its last one (SAMPLE_DATES[-1]): `make dev` ends the date partitions there, so the
# space it shows is the sample's, mostly filled, instead of reaching today
SAMPLE_END := 2024-03-12

.PHONY: install demo dev test test-fast bench lint services clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## make demo: the Sierra path on sample data into SQLite, no services needed
demo: install
	$(BIN)/marketdata demo

## make dev: Dagster UI on http://127.0.0.1:3000 (DAGSTER_PORT) with the same configuration, sensors on,
## and the streaming sidecar when Redis answers
dev: install
	SAMPLE_START=$(SAMPLE_START) SAMPLE_END=$(SAMPLE_END) bash scripts/dev.sh

## make test: the whole suite against the real PostgreSQL and Redis (started if needed)
test: install services lint
	$(BIN)/pytest -q -p no:cacheprovider -n 2 --dist loadgroup

## make bench: benchmarks beside their physical limits → var/bench/results.json
bench: install services
	$(BIN)/marketdata bench

## make lint: ruff, the import-linter layer contracts, and `docker compose config` when a compose tool is installed
lint: install
	$(BIN)/ruff check marketdata_assets marketdata_assets_tests
	$(BIN)/lint-imports
	@if docker compose version >/dev/null 2>&1; then \
	    POSTGRES_PASSWORD=lint MARKETDATA_SIDECAR_TOKEN=lint docker compose config -q && echo "docker compose config: ok"; \
	elif command -v docker-compose >/dev/null 2>&1; then \
	    POSTGRES_PASSWORD=lint MARKETDATA_SIDECAR_TOKEN=lint docker-compose config -q && echo "docker-compose config: ok"; \
	else echo "docker compose config: skipped (no compose tool installed)"; fi

services:
	bash scripts/ensure-services.sh

clean:
	rm -rf var .pytest_cache
