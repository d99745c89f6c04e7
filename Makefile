# Every target installs what it needs first: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export MARKETDATA_VAR_DIR ?= var
# first trading date of the sample data (sources/sierra/sample.py SAMPLE_DATES[0]): with the
# sample data, the date partitions start there instead of 2020-01-01
SAMPLE_START := 2024-03-07

.PHONY: install demo dev test test-fast bench lint services clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## make demo: the Sierra path on sample data into SQLite, no services needed
demo: install
	$(BIN)/marketdata demo

## make dev: Dagster UI on http://127.0.0.1:3000 with the same configuration, sensors on
dev: install
	$(BIN)/python -c "from pathlib import Path; from marketdata_assets.demo import prepare_dagster_home; prepare_dagster_home(Path('$(MARKETDATA_VAR_DIR)'))"
	@test -n "$$MARKETDATA_SIERRA_DATA_DIR" || $(BIN)/marketdata sample-data $(MARKETDATA_VAR_DIR)/sierra >/dev/null
	DAGSTER_HOME=$(abspath $(MARKETDATA_VAR_DIR))/dagster \
	MARKETDATA_PARTITIONS_START="$${MARKETDATA_PARTITIONS_START:-$$(test -n "$$MARKETDATA_SIERRA_DATA_DIR" || echo $(SAMPLE_START))}" \
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

## make test: the whole suite against the real PostgreSQL and Redis (started if needed)
test: install services
	$(BIN)/ruff check marketdata_assets marketdata_assets_tests
	$(BIN)/pytest -q -p no:cacheprovider -n 2 --dist loadgroup

## make bench: benchmarks beside their physical limits → var/bench/results.json
bench: install services
	$(BIN)/marketdata bench

lint: install
	$(BIN)/ruff check marketdata_assets marketdata_assets_tests

services:
	bash scripts/ensure-services.sh

clean:
	rm -rf var .pytest_cache
