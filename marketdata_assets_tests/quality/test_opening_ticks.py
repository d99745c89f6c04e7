"""Opening trades of a Sierra partition: before it has its own history, ``validated_ticks``
takes the bad-tick scale from the instrument's previous partition of ``ticks`` (the larger
of it and the asset-class default), like ``validated_bars`` does, so a volatile
instrument's ordinary opening moves are kept while a ×10 print is still quarantined."""

from __future__ import annotations

from datetime import date

import numpy as np

from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.pipelines.quality import validate
from marketdata_assets.pipelines.sierra.ticks import load_raw
from marketdata_assets.sources.sierra.scid import RECORD_DTYPE, SC_EPOCH_US
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets.testkit.sierra_sample import write_scid

MARKET = market_for_instrument("ESH24")   # FUTURE: warm-up default 1 bp (0.5 points at 5000)
YESTERDAY, TODAY = date(2024, 3, 7), date(2024, 3, 8)
T_TODAY = 1_709_910_000_000_000           # 2024-03-08 15:00 UTC: CME open, trading date 2024-03-08
T_YESTERDAY = T_TODAY - 86_400_000_000
# A volatile day: moves of 10-30 points (20-60 bp) per trade, never straight back (no spike).
STEPS = np.array([30.0, 30.0, -10.0, -10.0, -10.0, -10.0, -10.0, -10.0])


def _trades(t0: int, prices: np.ndarray) -> np.ndarray:
    rec = np.zeros(len(prices), dtype=RECORD_DTYPE)
    rec["dt"] = SC_EPOCH_US + t0 + np.arange(len(prices)) * 1_000_000
    rec["close"] = prices
    rec["high"], rec["low"] = prices + 0.25, prices
    rec["num_trades"], rec["total_volume"], rec["ask_volume"] = 1, 2, 2
    return rec


def _prices(n: int) -> np.ndarray:
    return 5000.0 + np.cumsum(np.resize(STEPS, n))


def test_volatile_instruments_opening_moves_are_kept_and_a_x10_print_still_quarantined(warehouse_url, tmp_path):
    today = _prices(15)  # the partition's first load after the open: fewer trades than min_periods (20)
    today = np.insert(today, 10, today[9] * 10)   # a decimal-shifted print among the opening trades
    path = write_scid(tmp_path / "ESH24.scid", np.concatenate([_trades(T_YESTERDAY, _prices(400)),
                                                               _trades(T_TODAY, today)]))
    with open_warehouse(warehouse_url) as wh:
        for day in (YESTERDAY, TODAY):
            load_raw(wh, path, "ESH24", MARKET, day, "load")
        validate(wh, "ESH24", MARKET, YESTERDAY, "r0", tick_size=0.25, run_gx=False)

        result = validate(wh, "ESH24", MARKET, TODAY, "r1", tick_size=0.25, run_gx=False)
        quarantined = wh.read("quarantine", {**partition_scope("ESH24", TODAY), "stage": "validated_ticks"})

    assert result.quarantined == 1 and result.details["ticks"] == 15
    assert len(quarantined) == 1 and "isolated_spike" in quarantined["reason"].iloc[0]
    warmup = result.details["bad_tick_warmup"]
    assert warmup["from"] == f"previous partition {YESTERDAY}" and 25 < warmup["scale_bp"] < 35


def test_without_a_previous_partition_the_asset_class_default_starts_the_warm_up(warehouse_url, tmp_path):
    path = write_scid(tmp_path / "ESH24.scid", _trades(T_TODAY, 5000.0 + np.arange(15) * 0.25))
    with open_warehouse(warehouse_url) as wh:
        load_raw(wh, path, "ESH24", MARKET, TODAY, "load")

        result = validate(wh, "ESH24", MARKET, TODAY, "r1", tick_size=0.25, run_gx=False)

    assert result.quarantined == 0
    assert result.details["bad_tick_warmup"] == {"from": "asset class FUTURE", "scale_bp": 1.0}
