"""``validated_ticks`` decodes the partition's raw records again from their file instead of
reading ``raw_ticks`` back, only when the file provably holds exactly what ``raw_ticks``
holds; otherwise it reads the warehouse's copy. Either way the result is the same."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.pipelines.quality import raw_from_file, validate
from marketdata_assets.pipelines.sierra.ticks import load_raw
from marketdata_assets.sources.sierra.scid import RECORD_DTYPE, SC_EPOCH_US
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets.testkit.sierra_sample import write_scid

DAY = date(2024, 3, 8)
T = 1_709_910_000_000_000  # 2024-03-08 15:00 UTC: CME open, trading date 2024-03-08
SCOPE = partition_scope("ESH24", DAY)
MARKET = market_for_instrument("ESH24")


def _records(n, start=0, bad=(3, 7)):
    rec = np.zeros(n, dtype=RECORD_DTYPE)
    rec["dt"] = SC_EPOCH_US + T + (start + np.arange(n)) * 1_000_000
    rec["close"] = 5000.0 + (np.arange(n) % 4) * 0.25
    rec["close"][[b for b in bad if b < n]] = -1.0   # quarantined by validation
    rec["high"], rec["low"] = rec["close"] + 0.25, rec["close"]
    rec["num_trades"], rec["total_volume"], rec["ask_volume"] = 1, 2, 2
    rec["bid_volume"][1::2], rec["ask_volume"][1::2] = 2, 0
    return rec


def _tables(wh):
    out = {}
    for name, scope in (("ticks", SCOPE), ("base_bars", SCOPE), ("quarantine", {**SCOPE, "stage": "validated_ticks"})):
        frame = wh.read(name, scope).drop(columns=["run_id", "id", "created_at"], errors="ignore")
        out[name] = frame.sort_values(list(frame.columns[:3])).reset_index(drop=True) if len(frame) else frame
    return out


def test_raw_decoded_again_from_file_equals_what_raw_ticks_holds(warehouse_url, tmp_path):
    path = write_scid(tmp_path / "ESH24.scid", _records(20))
    with open_warehouse(warehouse_url) as wh:
        load_raw(wh, path, "ESH24", MARKET, DAY, "load")
        again = raw_from_file(wh, "ESH24", MARKET, DAY, "v")
        stored = wh.read("raw_ticks", SCOPE, order_by=("source_offset",))

    assert again is not None
    cols = [c for c in stored.columns if c != "run_id"]
    pd.testing.assert_frame_equal(again[cols].reset_index(drop=True), stored[cols], check_like=True,
                                  check_dtype=False)  # integer widths differ by backend


def test_records_appended_after_the_checkpoint_are_not_validated_before_they_are_loaded(warehouse_url, tmp_path):
    path = write_scid(tmp_path / "ESH24.scid", _records(20))
    with open_warehouse(warehouse_url) as wh:
        load_raw(wh, path, "ESH24", MARKET, DAY, "load")
        write_scid(path, np.concatenate([_records(20), _records(5, start=20, bad=())]))  # appended, not loaded

        result = validate(wh, "ESH24", MARKET, DAY, "v", tick_size=0.25, run_gx=False)

    assert (result.rows_in, result.rows_out, result.quarantined) == (20, 18, 2)


def test_a_replaced_file_falls_back_to_the_warehouse_copy_with_the_same_result(warehouse_url, tmp_path):
    path = write_scid(tmp_path / "ESH24.scid", _records(20))
    with open_warehouse(warehouse_url) as wh:
        load_raw(wh, path, "ESH24", MARKET, DAY, "load")
        validate(wh, "ESH24", MARKET, DAY, "v", tick_size=0.25, run_gx=False)
        from_file = _tables(wh)
        rec = _records(20)
        rec["close"] += 1.0                           # the file now says something else
        write_scid(path, rec)

        assert raw_from_file(wh, "ESH24", MARKET, DAY, "v") is None
        result = validate(wh, "ESH24", MARKET, DAY, "v2", tick_size=0.25, run_gx=False)
        from_warehouse = _tables(wh)

    assert (result.rows_in, result.rows_out, result.quarantined) == (20, 18, 2)
    for name, frame in from_file.items():
        pd.testing.assert_frame_equal(frame, from_warehouse[name])
