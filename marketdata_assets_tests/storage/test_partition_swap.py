"""PostgreSQL: the tick tables are declaratively partitioned and a whole-partition rewrite
swaps the partition's leaf table (``pgswap.py``, ``014_partitioned_ticks.sql``)."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import psycopg
import psycopg.sql
import pytest

from marketdata_assets.errors import StorageError
from marketdata_assets.storage.warehouse import base, open_warehouse, partition_scope, pgswap
from marketdata_assets.storage.warehouse import timescale as ts
from marketdata_assets_tests.conftest import PG_ADMIN_URL, _pg_url, truncate_all
from marketdata_assets_tests.storage.killed_writer import frame

SCOPE = partition_scope("ESH24", "2024-03-08")
MIGRATION = "014_partitioned_ticks.sql"


def raw_frame(n: int, run_id: str, day: str = "2024-03-08", instrument: str = "ESH24") -> pd.DataFrame:
    shift = (pd.Timestamp(day) - pd.Timestamp("2024-03-08")).value // 1000
    ts_us = 1_709_852_400_000_000 + shift + np.arange(n, dtype=np.int64) * 1000
    return pd.DataFrame({
        "instrument": instrument, "trading_date": day, "ts": pd.to_datetime(ts_us, unit="us", utc=True),
        "open": 0.0, "high": 5000.25, "low": 5000.0, "close": 5000.0 + (np.arange(n) % 8) * 0.25,
        "num_trades": 1, "total_volume": 2, "bid_volume": 0, "ask_volume": 2, "kind": 0, "sub_trade": 0,
        "source": "file.scid", "source_offset": 56 + np.arange(n, dtype=np.int64) * 40, "run_id": run_id,
    })


def ticks(n: int, run_id: str, day: str = "2024-03-08", instrument: str = "ESH24") -> pd.DataFrame:
    shift = pd.Timestamp(day) - pd.Timestamp("2024-03-08")
    return frame(n, run_id).assign(trading_date=day, instrument=instrument, ts=lambda f: f["ts"] + shift)


def leaves(url: str, parent: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return sorted(r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass", (parent,)))


@pytest.fixture
def pg(pg_database):
    """The session's PostgreSQL warehouse, empty and without leaves left by other tests."""
    truncate_all(pg_database)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        for parent in pgswap.PARTITIONED_TABLES:
            for leaf in leaves(pg_database, parent):
                conn.execute(psycopg.sql.SQL("DROP TABLE {}").format(psycopg.sql.Identifier(leaf)))
    with open_warehouse(pg_database) as wh:
        yield wh


@pytest.fixture
def scratch_db():
    """An empty database of its own (not migrated)."""
    name = f"md_test_swap_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield _pg_url(name)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_plain_postgresql_partitions_the_tick_tables_by_instrument_and_date(pg):
    kinds = dict(pg.conn.execute("SELECT relname, relkind FROM pg_class WHERE relname IN "
                                 "('raw_ticks', 'ticks', 'base_bars')").fetchall())

    assert kinds == {"raw_ticks": "p", "ticks": "p", "base_bars": "r"}
    assert pg.declarative == frozenset({"raw_ticks", "ticks"})


def test_a_rewrite_swaps_the_leaf_and_leaves_the_other_partitions_alone(pg):
    other = partition_scope("ESH24", "2024-03-07")
    pg.replace_partition("ticks", ticks(10, "keep", "2024-03-07"), other)
    pg.replace_partition("ticks", frame(300, "first"), SCOPE)
    leaf = pgswap.leaf_name("ticks", "ESH24", "2024-03-08")
    first_oid = pg.conn.execute("SELECT %s::regclass::oid", (leaf,)).fetchone()[0]

    pg.replace_partition("ticks", frame(200, "second"), SCOPE)

    back = pg.read("ticks", SCOPE, order_by=("ts",))
    assert len(back) == 200 and set(back["run_id"]) == {"second"}
    assert pg.count("ticks", other) == 10
    assert leaves(pg.url, "ticks") == sorted([leaf, pgswap.leaf_name("ticks", "ESH24", "2024-03-07")])
    assert pg.conn.execute("SELECT %s::regclass::oid", (leaf,)).fetchone()[0] != first_oid  # a new table
    with pytest.raises(psycopg.errors.UniqueViolation):   # the primary key holds on the swapped-in leaf
        pg.tx_execute("INSERT INTO ticks SELECT * FROM ticks WHERE run_id = 'second' LIMIT 1")


def test_a_rewrite_that_fails_keeps_the_previous_leaf_and_checkpoint(pg):
    pg.replace_partition("ticks", frame(50, "old"), SCOPE)
    stray = pd.concat([frame(40, "new"), ticks(1, "new", "2024-03-09")], ignore_index=True)

    with pytest.raises(StorageError, match="ticks"):
        pg.replace_partition("ticks", stray, SCOPE)

    back = pg.read("ticks", SCOPE)
    assert len(back) == 50 and set(back["run_id"]) == {"old"}
    assert pg.count("ticks") == 50


def test_an_empty_rewrite_drops_the_leaf_and_appends_create_it_again(pg):
    pg.replace_partition("raw_ticks", raw_frame(30, "a"), SCOPE)

    pg.replace_partition("raw_ticks", raw_frame(0, "a"), SCOPE)
    assert leaves(pg.url, "raw_ticks") == [] and pg.count("raw_ticks", SCOPE) == 0

    data = raw_frame(30, "b")
    pg.replace_partition("raw_ticks", data.iloc[:20], SCOPE, min_offset=56)
    pg.replace_partition("raw_ticks", data.iloc[10:].assign(run_id="c"), SCOPE,
                         min_offset=int(data["source_offset"].iloc[10]))
    back = pg.read("raw_ticks", SCOPE, order_by=("source_offset",))
    assert back["run_id"].tolist() == ["b"] * 10 + ["c"] * 20
    assert leaves(pg.url, "raw_ticks") == [pgswap.leaf_name("raw_ticks", "ESH24", "2024-03-08")]


def test_leaf_names_are_safe_distinct_and_short():
    a = pgswap.leaf_name("raw_ticks", "ES-Z24.CME_really_long_instrument_name_x", "2024-03-08")
    b = pgswap.leaf_name("raw_ticks", "ES_Z24.CME_really_long_instrument_name_x", "2024-03-08")

    assert a != b and len(a) <= 58 and a.startswith("raw_ticks_20240308_es_z24_cme_")
    assert set(a) <= set("abcdefghijklmnopqrstuvwxyz0123456789_")


def test_a_populated_warehouse_migrates_to_partitions_with_identical_rows(scratch_db, monkeypatch):
    # Arrange: the schema before 014, written by the warehouse as it was (DELETE + COPY)
    everything = base.migration_files
    monkeypatch.setattr(base, "migration_files",
                        lambda *a, **k: [f for f in everything(*a, **k) if f.name != MIGRATION])
    days = ("2024-03-07", "2024-03-08")
    with open_warehouse(scratch_db) as wh:
        assert wh.declarative == frozenset()
        for day in days:
            for instrument in ("ESH24", "NQ-H24"):
                scope = partition_scope(instrument, day)
                wh.replace_partition("raw_ticks", raw_frame(120, "old", day, instrument), scope)
                wh.replace_partition("ticks", ticks(80, "old", day, instrument), scope)
        before = {t: wh.read(t, order_by=("instrument", "trading_date", "ts")) for t in ("raw_ticks", "ticks")}
    monkeypatch.setattr(base, "migration_files", everything)

    # Act
    with open_warehouse(scratch_db, migrate=False) as wh:
        applied = wh.migrate()
        after = {t: wh.read(t, order_by=("instrument", "trading_date", "ts")) for t in ("raw_ticks", "ticks")}
        # the migrated leaves carry the names the writer computes: a rewrite swaps them
        wh.replace_partition("ticks", frame(5, "new"), SCOPE)
        rewritten = wh.count("ticks", SCOPE), wh.count("ticks")

    # Assert
    assert applied == [MIGRATION]
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name])
    assert len(leaves(scratch_db, "raw_ticks")) == 4 and len(leaves(scratch_db, "ticks")) == 4
    assert rewritten == (5, 3 * 80 + 5)


def test_with_timescale_014_changes_nothing(scratch_db, monkeypatch):
    everything = base.migration_files
    monkeypatch.setattr(base, "migration_files",
                        lambda *a, **k: [f for f in everything(*a, **k) if f.name < MIGRATION])
    with open_warehouse(scratch_db) as wh:
        monkeypatch.setattr(base, "migration_files", everything)
        with wh.conn.transaction():
            wh.conn.execute("SELECT set_config('marketdata.timescale', 'on', true)")
            wh.conn.execute([f for f in everything("postgres") if f.name == MIGRATION][0].read_text().encode())
        kinds = {r[0] for r in wh.conn.execute("SELECT relkind FROM pg_class WHERE relname IN ('raw_ticks', 'ticks')")}

    assert kinds == {"r"}


def test_timescale_is_not_applied_over_declarative_partitions():
    usable = ts.TimescaleDecision(True, None)

    kept = ts.after_partitioning(usable, frozenset({"ticks"}), {"001_core.sql"})
    already = ts.after_partitioning(usable, frozenset(), {"001_core.sql"})

    assert not kept.apply and "014_partitioned_ticks.sql" in kept.warning
    assert already is usable


def test_a_writer_staging_one_partition_does_not_block_the_swap_of_another(pg):
    pg.replace_partition("ticks", frame(5, "old"), SCOPE)   # a rewrite: its swap drops the old leaf
    with psycopg.connect(pg.url) as other, other.cursor() as cur:
        other.execute("SET TIME ZONE 'UTC'")
        staging = pgswap.create_staging(cur, "ticks", "ESH24", "2024-03-07")   # its transaction stays open
        pg.conn.execute("SET lock_timeout = '3s'")

        pg.replace_partition("ticks", frame(20, "a"), SCOPE)   # would wait on a lock held by `other`

        pg.conn.execute("RESET lock_timeout")
        with cur.copy(f"COPY {psycopg.sql.Identifier(staging).as_string(other)} (instrument, ts, trading_date, kind, size, num_trades, sub_trade, source, run_id) "
                      "FROM STDIN") as cp:
            cp.write_row(("ESH24", "2024-03-07 10:00:00+00", "2024-03-07", "trade", 1, 1, 0, "f", "b"))
        pgswap.index_staging(cur, "ticks", staging)
        pgswap.swap_in(cur, "ticks", "ESH24", "2024-03-07", staging)
        other.commit()

    assert pg.count("ticks", SCOPE) == 20
    assert pg.count("ticks", partition_scope("ESH24", "2024-03-07")) == 1


def test_a_write_wider_than_one_partition_goes_through_the_parent(pg):
    both = pd.concat([ticks(3, "w", "2024-03-07"), ticks(4, "w")], ignore_index=True)

    pg.replace_partition("ticks", both, {"instrument": "ESH24"})

    assert pg.count("ticks", partition_scope("ESH24", "2024-03-07")) == 3 and pg.count("ticks", SCOPE) == 4


def test_streamed_writes_swap_in_every_frame_and_an_empty_stream_drops_the_leaf(pg):
    data = raw_frame(30, "s")
    stream = (data.iloc[lo:lo + 7] for lo in range(0, 30, 7))

    counts = pg.replace_partitions([base.PartitionWrite("raw_ticks", stream, SCOPE)])

    back = pg.read("raw_ticks", SCOPE, order_by=("source_offset",))
    assert counts == [30] and back["source_offset"].tolist() == data["source_offset"].tolist()
    assert pg.replace_partitions([base.PartitionWrite("raw_ticks", iter([data.iloc[:0]]), SCOPE)]) == [0]
    assert leaves(pg.url, "raw_ticks") == []
    wider = iter([ticks(3, "w", "2024-03-07"), ticks(4, "w")])   # through the parent, leaves per frame
    assert pg.replace_partitions([base.PartitionWrite("ticks", wider, {"instrument": "ESH24"})]) == [7]
    assert pg.count("ticks", partition_scope("ESH24", "2024-03-07")) == 3 and pg.count("ticks", SCOPE) == 4
