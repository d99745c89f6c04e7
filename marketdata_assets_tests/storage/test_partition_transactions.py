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

from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.pipelines.sierra import load_raw, validate
from marketdata_assets.sources.sierra.sample import write_scid
from marketdata_assets.sources.sierra.scid import RECORD_DTYPE, SC_EPOCH_US
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope

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


def test_validation_killed_between_its_tables_leaves_all_or_nothing(warehouse_url, tmp_path):
    path = _scid(tmp_path / "ESH24.scid")
    with open_warehouse(warehouse_url) as wh:
        load_raw(wh, path, "ESH24", market_for_instrument("ESH24"), DAY, "load")
    proc = subprocess.Popen([sys.executable, "-m", "marketdata_assets_tests.storage.killed_validator",
                             warehouse_url, "ESH24", str(DAY)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        line = proc.stdout.readline()
        assert line.startswith("between"), f"validator never reached its second table: {line!r}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()

    deadline = time.monotonic() + 30  # PostgreSQL rolls back once it sees the socket close
    while (killed := _counts(warehouse_url)) != (14, 0, 0, 0) and time.monotonic() < deadline:
        time.sleep(0.1)

    raw, ticks, bars, quarantined = killed
    assert (raw, ticks + bars, quarantined) == (14, 0, 0)
    with open_warehouse(warehouse_url) as wh:
        validate(wh, "ESH24", market_for_instrument("ESH24"), DAY, "again", tick_size=0.25, run_gx=False)
    raw, ticks, bars, quarantined = _counts(warehouse_url)
    assert (raw, ticks + bars, quarantined) == (14, 10, 4)
