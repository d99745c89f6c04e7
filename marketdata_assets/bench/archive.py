"""Storage-lifecycle figures, each beside the physical limit measured in the same run.

- archive write: ``to_arrow`` + verified write (serialize, write, read back, hash, compare)
  of a 1M-tick partition, and the whole ``archive_partition`` on SQLite, beside a bare
  ``pyarrow.parquet.write_table`` (zstd) of the same Arrow table;
- read of the partition through ``Warehouse.read`` when cold beside when hot, and beside
  ``pyarrow.parquet.read_table`` of its file;
- a month of 1m bars through the read API: cached (Redis hit) beside uncached, and beside
  the raw Redis ``HGET`` of the same cached bytes.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from marketdata_assets.bench.core import Result, best_of, throughput
from marketdata_assets.storage import archive_files
from marketdata_assets.storage.archive import archive_partition, restore_partitions
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets.storage.warehouse.schema import table

INSTRUMENT, DAY = "ESH24", "2024-03-08"
T0 = 1_709_852_400_000_000


def ticks(count: int) -> pd.DataFrame:
    i = np.arange(count, dtype=np.int64)
    return pd.DataFrame({
        "instrument": INSTRUMENT, "ts": pd.to_datetime(T0 + i * 50, unit="us", utc=True), "trading_date": DAY,
        "kind": "trade", "price": 5000.0 + (i % 40) * 0.25, "size": 1 + i % 5, "bid": 4999.75, "ask": 5000.25,
        "aggressor": np.where(i % 2 == 0, 1, 2).astype(np.int16), "num_trades": 1, "sub_trade": 0, "quality_score": 1.0,
        "source": "/data/ESH24.scid", "source_offset": 56 + 40 * i, "run_id": "bench"})


def minute_bars(days: int) -> pd.DataFrame:
    frames = []
    for d in pd.bdate_range("2024-02-01", periods=days):
        start = d.tz_localize("UTC") - pd.Timedelta(hours=7)
        n = 1380
        close = 5000 + np.cumsum(np.random.default_rng(d.day).normal(0, 0.5, n))
        frames.append(pd.DataFrame({
            "instrument": INSTRUMENT, "timeframe": "1m", "ts": start + pd.to_timedelta(np.arange(n), unit="m"),
            "trading_date": d.date().isoformat(), "open": close, "high": close + 0.5, "low": close - 0.5,
            "close": close, "volume": 100.0, "num_trades": 20, "bid_volume": 50.0, "ask_volume": 50.0,
            "vwap": close, "origin": "sierra", "source": "ticks", "run_id": "bench"}))
    return pd.concat(frames, ignore_index=True)


def run(work: Path, n, redis_url: str) -> list[Result]:
    count = n(1_000_000)
    label = "1M ticks" if count == 1_000_000 else f"{count:,} ticks"
    url = f"sqlite:///{work}/archive-bench.db"
    root = str(work / "archive")
    scope = partition_scope(INSTRUMENT, DAY)
    out = []
    with open_warehouse(url) as wh:
        wh.replace_partition("ticks", ticks(count), scope)
        hot = wh.read("ticks", scope)
        arrow = archive_files.to_arrow(table("ticks"), hot)
        bare_path = work / "bare.parquet"
        bare_s = best_of(lambda: pq.write_table(arrow, bare_path, compression="zstd",
                                                row_group_size=archive_files.ROW_GROUP_ROWS))
        verified_s = best_of(lambda: archive_files.write_verified(
            archive_files.partition_uri(str(work / "scratch"), "ticks", INSTRUMENT, DAY),
            archive_files.to_arrow(table("ticks"), hot)))
        out.append(throughput(f"archive file write (sort + verified), {label}", count, verified_s,
                              "pyarrow write_table zstd", bare_s, "rows/s"))
        hot_read_s = best_of(lambda: wh.read("ticks", scope))
        whole_s = best_of(lambda: archive_partition(wh, root, INSTRUMENT, DAY, tables=("ticks",)),
                          setup=lambda: restore_partitions(wh, INSTRUMENT, DAY, DAY))
        out.append(throughput(f"archive_partition on SQLite (read, write, verify, delete), {label}", count,
                              whole_s, "pyarrow write_table zstd", bare_s, "rows/s"))
        cold_read_s = best_of(lambda: wh.read("ticks", scope))
        file_read_s = best_of(lambda: pq.read_table(bare_path))
        out.append(throughput(f"cold read of a {label} partition (Warehouse.read)", count, cold_read_s,
                              "hot read of the same partition", hot_read_s, "rows/s"))
        out.append(throughput(f"cold read of a {label} partition (Warehouse.read)", count, cold_read_s,
                              "pyarrow read_table of the file", file_read_s, "rows/s"))
        out += _cache(wh, redis_url, n)
    return out


def _cache(wh, redis_url: str, n) -> list[Result]:
    import redis

    from marketdata_assets.storage.query import Query, run
    from marketdata_assets.storage.query_cache import QueryCache

    days = max(2, min(22, n(22_000) // 1000))
    bars = minute_bars(days)
    for day, part in bars.groupby("trading_date"):
        wh.replace_partition("ohlc_bars", part, partition_scope(INSTRUMENT, day))
    q = Query.make("bars", INSTRUMENT, bars["ts"].min(), bars["ts"].max() + pd.Timedelta(minutes=1), "1m")
    client = redis.Redis.from_url(redis_url)
    cache = QueryCache(client, f"bench-{uuid.uuid4().hex[:8]}", ttl_s=600)
    try:
        uncached_s = best_of(lambda: run(wh, q))
        cache.read(wh, q)                                   # fill
        cached_s = best_of(lambda: cache.read(wh, q), repeat=5)
        raw_s = best_of(lambda: client.hget(cache.key(q), "arrow"), repeat=5)
        assert cache.stats()["hits"] >= 5
    finally:
        for key in client.scan_iter(f"{cache.prefix}:*"):
            client.delete(key)
    label = f"{len(bars):,} 1m bars ({days} days)"
    return [
        Result(f"cached read API, {label}", round(cached_s * 1000, 3), "ms", "uncached read API",
               round(uncached_s * 1000, 3), round(uncached_s / cached_s, 3)),
        Result(f"cached read API, {label}", round(cached_s * 1000, 3), "ms", "raw Redis HGET of the entry",
               round(raw_s * 1000, 3), round(raw_s / cached_s, 3)),
    ]
