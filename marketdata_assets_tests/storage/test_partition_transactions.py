"""A step's outputs commit together: killed between its tables, a validation leaves all of
them or none, so raw = kept + quarantined holds at every instant (both backends)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date

import numpy as np
import pandas as pd

from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.pipelines.quality import validate, validate_provider_bars
from marketdata_assets.pipelines.sierra.ticks import load_raw
from marketdata_assets.sources.sierra.scid import RECORD_DTYPE, SC_EPOCH_US
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets.testkit.sierra_sample import write_scid

DAY = date(2024, 3, 8)
T = 1_709_910_000_000_000  # 2024-03-08 15:00 UTC: CME is open, trading date 2024-03-08
SCOPE = partition_scope("ESH24", DAY)


def _scid(path, n=14, bad=(3, 7, 9, 12)):
    rec = np.zeros(n, dtype=RECORD_DTYPE)
    rec["dt"] = SC_EPOCH_US + T + np.arange(n) * 1_000_000
    rec["close"] = 5000.0 + (np.arange(n) % 4) * 0.25
    rec["close"][list(bad)] = -1.0                       # a non-positive price: quarantined
    rec["high"], rec["low"] = rec["close"] + 0.25, rec["close"]
    rec["num_trades"], rec["total_volume"], rec["ask_volume"] = 1, 2, 2
    return write_scid(path, rec)


def _counts(url):
    with open_warehouse(url) as wh:
        return (wh.count("raw_ticks", SCOPE), wh.count("ticks", SCOPE),
                wh.count("base_bars", {**SCOPE, "origin": "sierra"}),
                wh.count("quarantine", {**SCOPE, "stage": "validated_ticks"}))


def _kill_between_tables(url, step):
    proc = subprocess.Popen([sys.executable, "-m", "marketdata_assets_tests.storage.killed_validator",
                             url, step, "ESH24", str(DAY)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        line = proc.stdout.readline()
        assert line.startswith("between"), f"validator never reached its second table: {line!r}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()


def _settled(counts, expected):
    deadline = time.monotonic() + 30  # PostgreSQL rolls back once it sees the socket close
    while (now := counts()) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return now


def test_validation_killed_between_its_tables_leaves_all_or_nothing(warehouse_url, tmp_path):
    path = _scid(tmp_path / "ESH24.scid")
    with open_warehouse(warehouse_url) as wh:
        load_raw(wh, path, "ESH24", market_for_instrument("ESH24"), DAY, "load")

    _kill_between_tables(warehouse_url, "validated_ticks")

    killed = _settled(lambda: _counts(warehouse_url), (14, 0, 0, 0))

    raw, ticks, bars, quarantined = killed
    assert (raw, ticks + bars, quarantined) == (14, 0, 0)
    with open_warehouse(warehouse_url) as wh:
        validate(wh, "ESH24", market_for_instrument("ESH24"), DAY, "again", tick_size=0.25, run_gx=False)
    raw, ticks, bars, quarantined = _counts(warehouse_url)
    assert (raw, ticks + bars, quarantined) == (14, 10, 4)


def _bar_counts(url):
    with open_warehouse(url) as wh:
        return (wh.count("raw_bars", SCOPE), wh.count("base_bars", {**SCOPE, "origin": "provider"}),
                wh.count("quarantine", {**SCOPE, "stage": "validated_bars"}))


def test_provider_bar_validation_killed_between_its_tables_leaves_all_or_nothing(warehouse_url):
    ts = pd.to_datetime(T + np.arange(12, dtype=np.int64) * 60_000_000, unit="us", utc=True)
    close = np.full(12, 5000.0)
    close[[2, 5, 8]] = -1.0                                  # non-positive prices: quarantined
    raw = pd.DataFrame({"instrument": "ESH24", "trading_date": str(DAY), "ts": ts, "timeframe": "1m",
                        "open": np.abs(close), "high": np.abs(close) + 0.25, "low": close, "close": close,
                        "volume": 10.0, "provider": "polygon", "request": "aggs", "run_id": "load"})
    with open_warehouse(warehouse_url) as wh:
        wh.replace_partition("raw_bars", raw, SCOPE)

    _kill_between_tables(warehouse_url, "validated_bars")

    assert _settled(lambda: _bar_counts(warehouse_url), (12, 0, 0)) == (12, 0, 0)
    with open_warehouse(warehouse_url) as wh:
        validate_provider_bars(wh, "ESH24", market_for_instrument("ESH24"), DAY, "again", tick_size=0.25,
                               run_gx=False)
    raw_n, kept, quarantined = _bar_counts(warehouse_url)
    assert raw_n == kept + quarantined and quarantined >= 3
