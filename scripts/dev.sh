#!/usr/bin/env bash
# `make dev`: the Dagster UI and daemon on the demo configuration, and the streaming sidecar
# beside them when Redis answers (otherwise the live_stream check says so as a WARN).
# DAGSTER_PORT (default 3000) moves the UI; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
VAR=${MARKETDATA_VAR_DIR:-var}
PORT=${DAGSTER_PORT:-3000}

$BIN/python -c "from pathlib import Path; from marketdata_assets.demo import prepare_dagster_home; \
prepare_dagster_home(Path('$VAR'))"
[ -n "${MARKETDATA_SIERRA_DATA_DIR:-}" ] || $BIN/marketdata sample-data "$VAR/sierra" >/dev/null

# the URL may hold a password: it is never printed
if $BIN/python -c "import redis; from marketdata_assets.settings import get_settings; \
redis.Redis.from_url(get_settings().redis_url, socket_connect_timeout=1, socket_timeout=1).ping()" 2>/dev/null; then
    echo "Redis reachable: starting the streaming sidecar (log: $VAR/sidecar.log)"
    $BIN/marketdata sidecar >"$VAR/sidecar.log" 2>&1 &
    sidecar=$!
    trap 'kill -TERM "$sidecar" 2>/dev/null || true; wait "$sidecar" 2>/dev/null || true' EXIT
else
    echo "Redis not reachable (MARKETDATA_REDIS_URL): no streaming sidecar; the live_stream check warns"
fi

# with the sample data, the date partitions run from its first to its last date (SAMPLE_START,
# SAMPLE_END from the Makefile) unless MARKETDATA_PARTITIONS_START / _END say otherwise
if [ -z "${MARKETDATA_SIERRA_DATA_DIR:-}" ]; then
    if [ -z "${MARKETDATA_PARTITIONS_START:-}" ] && [ -n "${SAMPLE_START:-}" ]; then
        export MARKETDATA_PARTITIONS_START="$SAMPLE_START"
    fi
    if [ -z "${MARKETDATA_PARTITIONS_END:-}" ] && [ -n "${SAMPLE_END:-}" ]; then
        export MARKETDATA_PARTITIONS_END="$SAMPLE_END"
    fi
fi

DAGSTER_HOME="$(cd "$VAR" && pwd)/dagster" $BIN/dagster dev -h 127.0.0.1 -p "$PORT" -w workspace.yaml
