"""TimescaleDB handling, on plain PostgreSQL (TimescaleDB itself is checked separately):
the decision when to run the 1xx migrations, the preload fallback, the rewrite setting."""

from __future__ import annotations

import logging

import pytest

from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets.storage.warehouse import timescale as ts
from marketdata_assets.storage.warehouse.base import migration_files
from marketdata_assets_tests.storage.killed_writer import frame


@pytest.mark.parametrize(("available", "installed", "preload", "apply", "warns"), [
    (False, False, "", False, False),                              # plain PostgreSQL
    (True, False, "", False, True),                                # installed, not preloaded
    (True, False, "pg_stat_statements", False, True),
    (True, False, "pg_stat_statements, timescaledb", True, False),  # preloaded
    (True, False, '"timescaledb"', True, False),
    (True, True, "", True, False),                                 # already created: it was loaded
])
def test_timescale_migrations_run_only_when_the_extension_is_preloaded(available, installed, preload, apply, warns):
    decision = ts.decide(available, installed, preload)

    assert decision.apply is apply
    assert (decision.warning is not None) is warns
    if warns:
        assert "shared_preload_libraries" in decision.warning and "restart" in decision.warning


def test_plain_postgresql_skips_the_1xx_migrations_silently(pg_database, caplog):
    with open_warehouse(pg_database, migrate=False) as wh, caplog.at_level(logging.WARNING):
        decision = ts.inspect(wh.conn)
        applied = wh.query("SELECT name FROM schema_migrations")["name"].tolist()

    assert decision == ts.TimescaleDecision(False, None)
    assert not [n for n in applied if n.startswith("1")]
    assert not caplog.records


def test_installed_but_not_preloaded_warns_once_and_migrates_as_plain_postgresql(pg_database, monkeypatch, caplog):
    not_preloaded = ts.decide(True, False, "pg_stat_statements")
    monkeypatch.setattr(ts, "inspect", lambda conn: not_preloaded)
    monkeypatch.setattr(ts, "_warned", set())

    with caplog.at_level(logging.WARNING, logger="marketdata.warehouse"):
        for _ in range(3):
            with open_warehouse(pg_database) as wh:
                names = wh.query("SELECT name FROM schema_migrations")["name"].tolist()
                assert "009_archive.sql" in names and not [n for n in names if n.startswith("1")]

    warnings = [r for r in caplog.records if "not preloaded" in r.getMessage()]
    assert len(warnings) == 1
    assert "shared_preload_libraries" in warnings[0].getMessage()


def test_rewrite_transaction_lifts_the_decompression_cap_only_for_itself(pg_database):
    with open_warehouse(pg_database) as wh:
        wh.lift_decompress_cap = True      # as on a TimescaleDB that has the setting
        with wh.transaction():
            inside = wh.query("SELECT current_setting('timescaledb.max_tuples_decompressed_per_dml_transaction', "
                              "true) AS v")["v"].iloc[0]
        after = wh.query("SELECT current_setting('timescaledb.max_tuples_decompressed_per_dml_transaction', "
                         "true) AS v")["v"].iloc[0]
        wh.replace_partition("ticks", frame(3, "r"), partition_scope("ESH24", "2024-03-08"))

    assert inside == "0"
    assert after in (None, "")


def test_compression_migration_segments_by_instrument_orders_by_ts_with_the_configured_policy():
    (migration,) = [f for f in migration_files("postgres", optional_available=True)
                    if f.name == "102_timescale_compression.sql"]
    sql = migration.read_text()

    for name in ("raw_ticks", "ticks", "ohlc_bars"):
        assert (f"ALTER TABLE {name} SET (timescaledb.compress, timescaledb.compress_segmentby = 'instrument', "
                "timescaledb.compress_orderby = 'ts')") in sql
    assert "current_setting('marketdata.compress_after_days', true)" in sql
    assert "if_not_exists => TRUE" in sql
