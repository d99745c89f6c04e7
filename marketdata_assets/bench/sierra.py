"""Benchmarks of the Sierra path, each beside a limit measured in the same run."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from marketdata_assets.bench.core import Result, best_of, throughput
from marketdata_assets.model import aggressor
from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.sources.sierra.scid import RECORD_DTYPE, SC_EPOCH_US, read_scid
from marketdata_assets.testkit.sierra_sample import write_scid
from marketdata_assets.transforms.aggregation import bars_from_trades

DAY = date(2024, 3, 11)
INSTRUMENT = "ESH24"


def synthetic_records(n: int, seed: int = 1) -> np.ndarray:
    """``n`` trades inside the 2024-03-11 CME session, evenly spread, valid and on the grid."""
    market = market_for_instrument(INSTRUMENT)
    lo, hi = market.session_bounds_us(DAY)[0]
    rng = np.random.default_rng(seed)
    rec = np.zeros(n, dtype=RECORD_DTYPE)
    rec["dt"] = lo + SC_EPOCH_US + (np.arange(n, dtype=np.int64) * (hi - lo - 1_000_000)) // n
    bid = 5000.0 + np.cumsum(rng.choice(np.array([-0.25, 0.0, 0.25]), size=n))
    buy = rng.random(n) < 0.5
    size = rng.integers(1, 10, size=n)
    rec["low"], rec["high"] = bid, bid + 0.25
    rec["close"] = np.where(buy, bid + 0.25, bid)
    rec["num_trades"], rec["total_volume"] = 1, size
    rec["ask_volume"] = np.where(buy, size, 0)
    rec["bid_volume"] = np.where(buy, 0, size)
    return rec


def ticks_frame(rec: np.ndarray) -> pd.DataFrame:
    ts = pd.to_datetime(rec["dt"] - SC_EPOCH_US, unit="us", utc=True)
    n = len(rec)
    return pd.DataFrame({
        "instrument": INSTRUMENT, "ts": ts, "trading_date": str(DAY), "kind": "trade",
        "price": rec["close"].astype(np.float64), "size": rec["total_volume"].astype(np.int64),
        "bid": rec["low"].astype(np.float64), "ask": rec["high"].astype(np.float64),
        "aggressor": np.where(rec["ask_volume"] > 0, aggressor.BUY, aggressor.SELL).astype(np.int16),
        "num_trades": np.ones(n, np.int64), "sub_trade": np.zeros(n, np.int16), "quality_score": 1.0,
        "source": "bench", "source_offset": np.arange(n, dtype=np.int64) * 40 + 56, "run_id": "bench",
    })


def bench_scid_decode(work: Path, n: int) -> Result:
    path = work / "decode.scid"
    write_scid(path, synthetic_records(n))
    size = path.stat().st_size

    buffer = bytearray(size)  # allocated and touched once: the limit is the copy from the page cache

    def raw():
        with open(path, "rb", buffering=0) as fh:
            fh.readinto(buffer)

    raw()  # both measured with the file in the page cache
    raw_s = best_of(raw)
    ours_s = best_of(lambda: read_scid(path).records)
    path.unlink()
    return throughput("scid decode", n, ours_s, "raw read of the same bytes", raw_s, "records/s", "ratio >= 0.3")


def bench_postgres_write(pg_url: str, n: int) -> list[Result]:
    import psycopg

    from marketdata_assets.storage.warehouse import open_warehouse, partition_scope, pgswap
    from marketdata_assets.storage.warehouse.frames import prepare
    from marketdata_assets.storage.warehouse.pgcopy import encode
    from marketdata_assets.storage.warehouse.schema import table

    frame = ticks_frame(synthetic_records(n))
    scope = partition_scope(INSTRUMENT, DAY)
    wh = open_warehouse(pg_url)
    conn = psycopg.connect(pg_url, autocommit=True)
    conn.execute("DROP TABLE IF EXISTS bench_ticks_limit")
    conn.execute("CREATE TABLE bench_ticks_limit (LIKE ticks INCLUDING ALL)")
    if "ticks" in pgswap.declarative_tables(conn):   # the keys each leaf carries
        pgswap.add_leaf_keys(conn.cursor(), "ticks", "bench_ticks_limit")
    fd, copy_file = tempfile.mkstemp(suffix=".pgcopy", dir="/tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(encode(prepare(table("ticks"), frame)))
    os.chmod(copy_file, 0o644)
    try:
        def clear():
            conn.execute("TRUNCATE ticks")
            conn.execute("TRUNCATE bench_ticks_limit")
            conn.execute("CHECKPOINT")

        limit_s = best_of(lambda: conn.execute(
            "COPY bench_ticks_limit FROM %s (FORMAT BINARY)".replace("%s", _literal(copy_file))), setup=clear)
        first_s = best_of(lambda: wh.replace_partition("ticks", frame, scope), setup=clear)
        wh.replace_partition("ticks", frame, scope)
        rewrite_s = best_of(lambda: wh.replace_partition("ticks", frame, scope), repeat=2)
        assert wh.count("ticks", scope) == n
    finally:
        conn.execute("DROP TABLE IF EXISTS bench_ticks_limit")
        conn.execute("TRUNCATE ticks")
        conn.close()
        wh.close()
        os.unlink(copy_file)
    return [
        throughput("postgres partition write", n, first_s, "server-side binary COPY, identical table",
                   limit_s, "rows/s", "ratio >= 0.8"),
        throughput("postgres partition rewrite", n, rewrite_s,
                   "server-side binary COPY, identical table", limit_s, "rows/s", "ratio >= 0.8"),
    ]


def _literal(path: str) -> str:
    """A server-side file name as an SQL literal: our own mkstemp path, quoted defensively."""
    if "'" in path:
        raise ValueError("unexpected quote in temp path")
    return f"'{path}'"


def bench_sqlite_write(work: Path, n: int) -> Result:
    from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
    from marketdata_assets.storage.warehouse.sqlite import SQLiteWarehouse

    frame = ticks_frame(synthetic_records(n))
    db = work / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    wh = open_warehouse(f"sqlite:///{db}")
    scope = partition_scope(INSTRUMENT, DAY)
    names, rows = SQLiteWarehouse._rows(__import__("marketdata_assets.storage.warehouse.schema",
                                                   fromlist=["table"]).table("ticks"), frame, None)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS limit_ticks AS SELECT * FROM ticks WHERE 0")
    conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS limit_pk ON limit_ticks (instrument, ts)")
    conn.execute("CREATE INDEX IF NOT EXISTS limit_part ON limit_ticks (instrument, trading_date)")
    insert = f"INSERT INTO limit_ticks ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"  # noqa: S608

    def limit():
        conn.execute("BEGIN")
        conn.executemany(insert, rows)
        conn.execute("COMMIT")

    limit_s = best_of(limit, repeat=2, setup=lambda: conn.execute("DELETE FROM limit_ticks"))
    ours_s = best_of(lambda: wh.replace_partition("ticks", frame, scope), repeat=2,
                     setup=lambda: wh.execute("DELETE FROM ticks"))
    conn.close()
    wh.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return throughput("sqlite partition write", n, ours_s, "bare executemany of prepared tuples, identical table",
                      limit_s, "rows/s", "ratio >= 0.8")


def bench_bars(n: int) -> Result:
    rec = synthetic_records(n)
    market = market_for_instrument(INSTRUMENT)
    trades = ticks_frame(rec)[["ts", "price", "size", "aggressor", "num_trades"]]
    ts = (rec["dt"] - SC_EPOCH_US).astype(np.int64)
    price = rec["close"].astype(np.float64)
    size = rec["total_volume"].astype(np.float64)
    anchor = market.session_open_us(DAY)

    def bare():
        keys = anchor + (ts - anchor) // 60_000_000 * 60_000_000
        edges = np.searchsorted(keys, np.unique(keys))
        ends = np.r_[edges[1:], len(keys)] - 1
        return (price[edges], np.maximum.reduceat(price, edges), np.minimum.reduceat(price, edges),
                price[ends], np.add.reduceat(size, edges))

    limit_s = best_of(bare)
    ours_s = best_of(lambda: bars_from_trades(trades, market, DAY, timeframes=("1m",)))
    return throughput("bars from ticks (1m)", n, ours_s, "bare numpy searchsorted + reduceat", limit_s,
                      "ticks/s", "ratio >= 0.5")


def bench_partition_end_to_end(work: Path, n: int, url: str, label: str) -> list[Result]:
    """The chain ``sierra_ticks`` → ``validated_ticks`` → ``ohlc_bars`` of one partition, in one
    Dagster run (as a user materializes it), beside its same-run floor (:mod:`bench.floor`):
    decode of the records + bulk load of exactly the rows the chain wrote. Then the same
    chain again with ``full_refresh`` (a re-materialization: every table rewritten)."""
    import time

    import dagster as dg

    from marketdata_assets.bench.floor import chain_floor
    from marketdata_assets.definitions import SIERRA_ASSETS
    from marketdata_assets.defs.partitions import instrument_partitions, key_for
    from marketdata_assets.defs.resources import SierraResource, WarehouseResource
    from marketdata_assets.storage.warehouse import partition_scope

    data_dir = work / "e2e"
    data_dir.mkdir(exist_ok=True)
    path = data_dir / f"{INSTRUMENT}.scid"
    write_scid(path, synthetic_records(n))
    runs = []
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(instrument_partitions.name, [INSTRUMENT])
        for refresh in (False, True):
            t0 = time.perf_counter()
            result = dg.materialize(
                SIERRA_ASSETS, selection=["sierra_ticks", "validated_ticks", "ohlc_bars"],
                partition_key=key_for(DAY, INSTRUMENT), instance=instance,
                resources={"warehouse": WarehouseResource(url=url),
                           "sierra": SierraResource(data_dir=str(data_dir))},
                run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}},
                            "ops": {"sierra_ticks": {"config": {"full_refresh": refresh}}}},
            )
            took = time.perf_counter() - t0
            assert result.success
            steps = {s.step_key: round(s.end_time - s.start_time, 3)
                     for s in instance.get_run_step_stats(result.run_id) if s.start_time and s.end_time}
            runs.append((took, steps))
    floor = chain_floor(url, path, partition_scope(INSTRUMENT, DAY))
    path.unlink()
    out = []
    for (took, steps), what in zip(runs, ("first write", "rewrite"), strict=True):
        print(f"  {label} {what}: {took:.2f} s, steps (s): {steps}; floor {floor}", flush=True)
        out.append(Result(f"partition end to end, {n:,} ticks, {what} ({label})", round(took, 3), "s",
                          "decode + bulk load of the rows written (same tables)", floor["floor_s"],
                          round(floor["floor_s"] / took, 3), "ratio >= 0.67 (<= 1.5x floor)",
                          detail={"step_seconds": steps, "floor": floor}))
    return out
