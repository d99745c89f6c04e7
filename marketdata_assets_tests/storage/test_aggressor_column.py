"""Migration 012: the text ``ticks.side`` becomes the numeric ``ticks.aggressor`` (0 unknown,
1 buy, 2 sell) on both backends, existing rows converted; Parquet files archived before it
read with the new column; the read API still shows the side as text."""

from __future__ import annotations

import uuid

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from marketdata_assets.storage import archive_files
from marketdata_assets.storage.query import read_ticks
from marketdata_assets.storage.warehouse import base, open_warehouse, partition_scope
from marketdata_assets.storage.warehouse.schema import table

from ..conftest import PG_ADMIN_URL, _pg_url

TS = 1_709_910_000_000_000


@pytest.fixture(params=["sqlite", "postgres"])
def before_012(request, tmp_path, monkeypatch):
    """A warehouse migrated up to 011 (the text ``side`` column), and its URL."""
    real = base.migration_files
    monkeypatch.setattr(base, "migration_files",
                        lambda *a, **k: [f for f in real(*a, **k) if f.name < "012"])
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/old.db"
        open_warehouse(url).close()
        yield url
    else:
        name = f"md_test_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = _pg_url(name)
        open_warehouse(url).close()
        yield url
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    monkeypatch.setattr(base, "migration_files", real)


def test_migration_012_converts_the_text_side_of_existing_rows(before_012, monkeypatch):
    with open_warehouse(before_012) as wh:
        for i, side in enumerate(["buy", "sell", None, "buy"]):
            ts = wh.ts_param(TS + i)
            wh.execute("INSERT INTO ticks (instrument, ts, trading_date, kind, size, side, num_trades, sub_trade, "
                       "source, run_id) VALUES ('ESH24', %(ts)s, '2024-03-08', 'trade', 1, %(side)s, 1, 0, 'f', 'r')",
                       {"ts": ts, "side": side})
    monkeypatch.undo()

    with open_warehouse(before_012) as wh:   # opening migrates: 012 runs on the old rows
        back = wh.read("ticks", partition_scope("ESH24", "2024-03-08"), order_by=("ts",))

    assert back["aggressor"].tolist() == [1, 2, 0, 1]
    assert "side" not in back.columns


def test_a_file_archived_before_012_reads_its_side_as_the_aggressor(tmp_path):
    old = pa.table({"ts": pa.array([TS, TS + 1, TS + 2], pa.timestamp("us", tz="UTC")),
                    "side": pa.array(["buy", None, "sell"], pa.string())})
    path = tmp_path / "old.parquet"
    pq.write_table(old, path)

    arrow = archive_files.read_columns(str(path), ["ts", "aggressor"], None)
    frame = archive_files.to_frame(table("ticks"), arrow, int16=False)

    assert frame["aggressor"].tolist() == [1, 0, 2]
    assert list(frame.columns) == ["ts", "aggressor"]


def test_the_read_api_shows_the_aggressor_as_text(warehouse):
    ticks = pd.DataFrame({
        "instrument": "ESH24", "ts": pd.to_datetime([TS, TS + 1, TS + 2], unit="us", utc=True),
        "trading_date": "2024-03-08", "kind": "trade", "price": 5000.0, "size": 1, "bid": 4999.75, "ask": 5000.0,
        "aggressor": [1, 2, 0], "num_trades": 1, "sub_trade": 0, "quality_score": 1.0, "source": "f",
        "source_offset": [56, 96, 136], "run_id": "r"})
    warehouse.replace_partition("ticks", ticks, partition_scope("ESH24", "2024-03-08"))

    got = read_ticks(warehouse, "ESH24", pd.Timestamp(TS, unit="us", tz="UTC"), pd.Timestamp(TS + 10, unit="us", tz="UTC"))

    assert got["side"].tolist() == ["buy", "sell", None]
    assert got["aggressor"].tolist() == [1, 2, 0]
