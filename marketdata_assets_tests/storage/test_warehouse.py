"""The warehouse contract, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date

import numpy as np
import pandas as pd
import psycopg
import pytest

from marketdata_assets.storage.warehouse import Checkpoint, open_warehouse, partition_scope
from marketdata_assets.storage.warehouse.schema import TABLES
from marketdata_assets_tests.storage.killed_writer import frame

SCOPE = partition_scope("ESH24", "2024-03-08")


def test_same_partition_written_three_times_leaves_identical_rows(warehouse):
    data = frame(500, "r1")

    reads = []
    for _ in range(3):
        warehouse.replace_partition("ticks", data, SCOPE)
        reads.append(warehouse.read("ticks", SCOPE, order_by=("ts",)))

    assert len(reads[0]) == 500
    pd.testing.assert_frame_equal(reads[0], reads[1])
    pd.testing.assert_frame_equal(reads[0], reads[2])
    assert warehouse.count("ticks") == 500


def test_rewrite_replaces_exactly_its_partition(warehouse):
    other = frame(10, "keep").assign(trading_date="2024-03-07",
                                     ts=lambda f: f["ts"] - pd.Timedelta(days=1))
    warehouse.replace_partition("ticks", other, partition_scope("ESH24", "2024-03-07"))
    warehouse.replace_partition("ticks", frame(20, "a"), SCOPE)

    warehouse.replace_partition("ticks", frame(5, "b"), SCOPE)

    assert warehouse.count("ticks", SCOPE) == 5
    assert warehouse.count("ticks", partition_scope("ESH24", "2024-03-07")) == 10


def test_append_from_offset_replaces_only_rows_at_or_after_it(warehouse):
    raw = frame(10, "r").assign(source_offset=np.arange(10) * 40 + 56)
    warehouse.replace_partition("ticks", raw, SCOPE)

    tail = raw.iloc[6:].assign(run_id="again")
    warehouse.replace_partition("ticks", tail, SCOPE, min_offset=int(tail["source_offset"].iloc[0]))

    back = warehouse.read("ticks", SCOPE, order_by=("ts",))
    assert len(back) == 10
    assert back["run_id"].tolist() == ["r"] * 6 + ["again"] * 4


def test_values_round_trip_with_nulls_nan_unicode_and_empty_text(warehouse):
    data = frame(4, "r").assign(
        price=[np.nan, 1.5, np.inf, 2.0], aggressor=[0, 1, 2, 0], source=["é€", "a", "b", ""],
        kind=["quote", "trade", "trade", "trade"],
    )

    warehouse.replace_partition("ticks", data, SCOPE)
    back = warehouse.read("ticks", SCOPE, order_by=("ts",))

    assert np.isnan(back["price"].iloc[0]) and back["price"].iloc[2] == np.inf
    assert back["aggressor"].tolist() == [0, 1, 2, 0]
    assert back["source"].tolist() == ["é€", "a", "b", ""]
    assert (back["ts"].to_numpy() == data["ts"].to_numpy()).all()
    assert back["trading_date"].tolist() == ["2024-03-08"] * 4


def test_checkpoint_commits_with_the_data_and_a_failed_write_keeps_both(warehouse):
    cp = Checkpoint("/data/ESH24.scid", "ESH24", date(2024, 3, 8), "f1", 456, 456, 123, "r1")
    warehouse.replace_partition("ticks", frame(10, "r1"), SCOPE, checkpoint=cp)
    broken = frame(10, "r2").assign(kind=None)  # violates NOT NULL half-way through the write
    later = Checkpoint("/data/ESH24.scid", "ESH24", date(2024, 3, 8), "f1", 999, 999, 456, "r2")

    with pytest.raises(Exception, match="(?i)null|constraint"):
        warehouse.replace_partition("ticks", broken, SCOPE, checkpoint=later)

    assert warehouse.count("ticks", SCOPE) == 10
    assert warehouse.get_checkpoint("/data/ESH24.scid", "2024-03-08") == cp


def test_bound_parameters_treat_hostile_values_as_data(warehouse):
    warehouse.replace_partition("ticks", frame(3, "r"), SCOPE)
    hostile = "ESH24' OR '1'='1"

    rows = warehouse.query("SELECT COUNT(*) AS n FROM ticks WHERE instrument = %(i)s", {"i": hostile})

    assert int(rows["n"].iloc[0]) == 0
    assert warehouse.count("ticks", partition_scope(hostile, "2024-03-08")) == 0


def test_migrations_are_idempotent_and_create_the_declared_columns(warehouse_url):
    with open_warehouse(warehouse_url) as wh:
        again = wh.migrate()
        for name, tbl in TABLES.items():
            got = list(wh.query(f"SELECT * FROM {name} WHERE 1 = 0").columns)  # noqa: S608
            declared = [c for c in got if c not in ("id", "created_at", "updated_at")]
            assert declared == tbl.names, name

    assert again == []


def _sqlite_locked(path: str) -> bool:
    conn = sqlite3.connect(path, timeout=0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


def _pg_copy_running(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND state = 'active' AND query ILIKE 'COPY%%'").fetchone()
    return row[0] > 0


@pytest.mark.slow
def test_writer_killed_mid_transaction_leaves_previous_contents(warehouse_url):
    with open_warehouse(warehouse_url) as wh:
        wh.replace_partition("ticks", frame(1000, "old"), SCOPE)
        before = wh.read("ticks", SCOPE, order_by=("ts",))
    in_write = (lambda: _sqlite_locked(warehouse_url[len("sqlite:///"):])) if warehouse_url.startswith("sqlite") \
        else (lambda: _pg_copy_running(warehouse_url))
    proc = subprocess.Popen([sys.executable, "-m", "marketdata_assets_tests.storage.killed_writer",
                             warehouse_url, "1500000"], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        deadline = time.monotonic() + 120
        while not in_write():
            assert proc.poll() is None, "writer ended before it was caught mid-write"
            assert time.monotonic() < deadline, "writer never started its transaction"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    out = proc.stdout.read()

    with open_warehouse(warehouse_url) as wh:
        deadline = time.monotonic() + 30  # PostgreSQL aborts the transaction once it sees the socket close
        while warehouse_url.startswith("postgres") and _pg_copy_running(warehouse_url) and time.monotonic() < deadline:
            time.sleep(0.05)
        after = wh.read("ticks", SCOPE, order_by=("ts",))

    assert "committed" not in out
    pd.testing.assert_frame_equal(before, after)


def test_nullable_numbers_and_timestamps_round_trip(warehouse):
    rows = pd.DataFrame({
        "stage": "s", "instrument": "ESH24", "trading_date": "2024-03-08",
        "ts": pd.to_datetime([1_709_852_400_000_000, None, 1_709_852_400_000_001], unit="us", utc=True),
        "source": ["f", None, "f"], "source_offset": pd.array([56, None, 96], dtype="Int64"),
        "reason": "r", "raw": [{"price": -1.0}, {"price": None}, {}], "run_id": "r",
    })

    warehouse.replace_partition("quarantine", rows, {**SCOPE, "stage": "s"})
    back = warehouse.read("quarantine", {**SCOPE, "stage": "s"}, order_by=("reason",))

    assert back["ts"].isna().tolist() == [False, True, False]
    assert back["source_offset"].isna().tolist() == [False, True, False]
    assert sorted(back["source_offset"].dropna().astype(int).tolist()) == [56, 96]
    assert back["source"].tolist().count(None) == 1


def test_text_with_separator_characters_is_refused_with_table_and_column(warehouse):
    with pytest.raises(Exception, match=r"ticks\.source"):
        warehouse.replace_partition("ticks", frame(2, "r").assign(source="a\x1eb"), SCOPE)


def test_sqlite_migration_splitter_ignores_semicolons_in_comments_and_strings():
    from marketdata_assets.storage.warehouse.sqlite import _statements

    script = "CREATE TABLE a (x TEXT DEFAULT 'a;b'); -- one; two\n-- only a comment;\nCREATE TABLE b (y INT -- z; w\n);\n"

    assert _statements(script) == ["CREATE TABLE a (x TEXT DEFAULT 'a;b'); -- one; two",
                                   "-- only a comment;\nCREATE TABLE b (y INT -- z; w\n);"]


def test_date_column_starting_with_null_is_decoded():
    from marketdata_assets.storage.warehouse.frames import finish
    from marketdata_assets.storage.warehouse.schema import table

    frame = finish(table("market_holidays"), pd.DataFrame({"holiday": [np.nan, 19790.0]}))

    assert frame["holiday"].tolist() == [None, "2024-03-08"]


def test_upsert_fills_column_defaults_and_reads_back(warehouse):
    rows = pd.DataFrame({"source": ["a", "b"], "instrument": "ESH24", "trading_date": ["2024-03-08", "2024-03-08"],
                         "fingerprint": "f", "byte_offset": 1, "file_size": 1, "last_ts": [None, None], "run_id": "r"})
    warehouse.upsert("ingest_checkpoints", rows, ("source", "trading_date"))
    warehouse.upsert("market_holidays", pd.DataFrame({"market": ["X"], "holiday": ["2024-12-25"], "version": "1"}),
                     ("market", "holiday"))

    back = warehouse.read("market_holidays", {"market": "X"})

    assert back["holiday"].tolist() == ["2024-12-25"]
    assert warehouse.read("ingest_checkpoints", {"source": "a"})["last_ts"].isna().all()
