"""Querying the archive directly: a week of 1m bars across hot and cold with DuckDB and with
pyarrow datasets gives the rows the warehouse's own read gives."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from marketdata_assets.storage.archive import archive_partition
from marketdata_assets.storage.archive_query import cold_dataset, cold_files
from marketdata_assets.storage.warehouse import partition_scope

WEEK = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"]
RANGE = ("2024-03-04", "2024-03-09")
COLUMNS = ["ts", "trading_date", "timeframe", "open", "high", "low", "close", "volume"]


def _bars(day: str, timeframe: str, n: int) -> pd.DataFrame:
    start = pd.Timestamp(day, tz="UTC") - pd.Timedelta(hours=7)
    step = {"1m": 1, "5m": 5}[timeframe]
    price = 5000 + np.cumsum(np.random.default_rng(len(day) + n).normal(0, 1, n))
    return pd.DataFrame({
        "instrument": "ESH24", "timeframe": timeframe, "ts": start + pd.to_timedelta(np.arange(n) * step, unit="m"),
        "trading_date": day, "open": price, "high": price + 1, "low": price - 1, "close": price, "volume": 10.0,
        "num_trades": 3, "bid_volume": 4.0, "ask_volume": 6.0, "vwap": price, "origin": "sierra",
        "source": "ticks", "run_id": "r"})


def _week(wh, root) -> pd.DataFrame:
    for day in WEEK:
        wh.replace_partition("ohlc_bars", pd.concat([_bars(day, "1m", 300), _bars(day, "5m", 60)]),
                             partition_scope("ESH24", day))
    for day in WEEK[:3]:
        archive_partition(wh, root, "ESH24", day, tables=("ohlc_bars",))
    return wh.read("ohlc_bars", {"instrument": "ESH24", "timeframe": "1m"}, columns=COLUMNS, order_by=("ts",),
                   dates=RANGE)


def test_duckdb_reads_a_week_of_1m_bars_across_hot_and_cold(warehouse, tmp_path):
    expected = _week(warehouse, str(tmp_path / "archive"))
    files = cold_files(warehouse, "ohlc_bars", "ESH24", RANGE)
    hot = warehouse.read_hot("ohlc_bars", {"instrument": "ESH24", "timeframe": "1m"}, columns=COLUMNS, dates=RANGE)

    got = duckdb.sql(
        "SELECT ts, CAST(trading_date AS VARCHAR) AS trading_date, timeframe, open, high, low, close, volume "
        "FROM read_parquet($files) WHERE timeframe = '1m' UNION ALL BY NAME SELECT * FROM hot ORDER BY ts",
        params={"files": files}).df()

    assert len(files) == 3 and len(hot) == 600
    assert len(got) == len(expected) == 1500
    assert (got["ts"].dt.tz_convert("UTC").to_numpy() == expected["ts"].to_numpy()).all()
    assert got["trading_date"].tolist() == expected["trading_date"].tolist()
    np.testing.assert_array_equal(got["close"].to_numpy(), expected["close"].to_numpy())


def test_pyarrow_dataset_reads_only_the_live_archive_files(warehouse, tmp_path):
    expected = _week(warehouse, str(tmp_path / "archive"))
    (tmp_path / "archive" / "table=ohlc_bars" / "stray.parquet").write_bytes(b"not a manifest file")

    cold = cold_dataset(warehouse, "ohlc_bars", "ESH24").to_table(
        columns=COLUMNS, filter=pc.field("timeframe") == "1m")
    hot = warehouse.read_hot("ohlc_bars", {"instrument": "ESH24", "timeframe": "1m"}, columns=COLUMNS)

    assert cold.num_rows == 900 and len(hot) == 600
    merged = np.sort(np.concatenate([cold.column("ts").cast(pa.int64()).to_numpy(),
                                     hot["ts"].astype("int64").to_numpy()]))
    assert (merged == expected["ts"].astype("int64").to_numpy()).all()
