"""When the TimescaleDB migrations (``sql/postgres/1xx_*.sql``) run, and what the rewrite
transaction sets on a TimescaleDB warehouse.

``CREATE EXTENSION timescaledb`` fails with "must be preloaded" when the extension is
installed but not in ``shared_preload_libraries``; before this check that left a warehouse
with no tables at all. Now such a server runs as plain PostgreSQL, with one warning per
process naming the fix. Compression (``102_timescale_compression.sql``) segments by
instrument and orders by ts; its policy compresses chunks older than
``marketdata.compress_after_days`` (set by ``migrate`` from ``MARKETDATA_COMPRESS_AFTER_DAYS``).
Rewriting a partition whose chunks are compressed decompresses them inside the DML
transaction; TimescaleDB versions that cap that (``timescaledb.max_tuples_decompressed_per
_dml_transaction``, 100,000 by default) get the cap lifted for that transaction only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger("marketdata.warehouse")
DECOMPRESS_CAP = "timescaledb.max_tuples_decompressed_per_dml_transaction"
_warned: set[str] = set()


@dataclass(frozen=True)
class TimescaleDecision:
    apply: bool             # run the 1xx migrations
    warning: str | None     # why not, with the fix, when the extension is there but unusable


def decide(available: bool, installed: bool, preload_libraries: str) -> TimescaleDecision:
    """``available``: in ``pg_available_extensions``; ``installed``: in this database's
    ``pg_extension``; ``preload_libraries``: ``SHOW shared_preload_libraries``."""
    if installed:
        return TimescaleDecision(True, None)
    if not available:
        return TimescaleDecision(False, None)
    preloaded = any(p.strip().strip('"') == "timescaledb" for p in preload_libraries.split(","))
    if preloaded:
        return TimescaleDecision(True, None)
    return TimescaleDecision(False, (
        "TimescaleDB is installed on this server but not preloaded, so the warehouse runs as plain "
        "PostgreSQL (no hypertables, no compression). To enable it, add timescaledb to "
        "shared_preload_libraries in postgresql.conf (or start postgres with "
        "-c shared_preload_libraries=timescaledb), restart the server, and run `marketdata migrate`."))


def warn_once(decision: TimescaleDecision, where: str) -> None:
    if decision.warning and where not in _warned:
        _warned.add(where)
        log.warning("%s: %s", where, decision.warning)


def inspect(conn) -> TimescaleDecision:
    """The decision for the server behind a psycopg connection."""
    available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    installed = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    preload = conn.execute("SHOW shared_preload_libraries").fetchone()[0] or ""
    return decide(available is not None, installed is not None, preload)


def has_decompress_cap(conn) -> bool:
    return conn.execute("SELECT 1 FROM pg_settings WHERE name = %s", (DECOMPRESS_CAP,)).fetchone() is not None


def after_partitioning(decision: TimescaleDecision, partitioned: frozenset[str], done: set[str]) -> TimescaleDecision:
    """A warehouse whose tick tables 014 already partitioned declaratively (it was plain
    PostgreSQL then) cannot take ``101_timescale.sql``: hypertables cannot be partitioned
    tables. It stays plain PostgreSQL, with a warning, until it is converted by hand."""
    if not decision.apply or not partitioned or "101_timescale.sql" in done:
        return decision
    return TimescaleDecision(False, (
        f"TimescaleDB is usable on this server, but {', '.join(sorted(partitioned))} were partitioned "
        "declaratively while the warehouse ran on plain PostgreSQL (014_partitioned_ticks.sql), and a "
        "hypertable cannot be a partitioned table: this warehouse stays plain PostgreSQL (a new "
        "warehouse created on this server gets hypertables)."))
