"""ProjectX and Sierra depth share ``depth_events`` (and ``depth_book_state``) partitions
without touching each other: each origin's load, reconciliation and book replay see only
their own rows. On SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.pipelines.bars import build_book, replay_partition
from marketdata_assets.pipelines.sierra.depth import load_depth
from marketdata_assets.storage.warehouse import PartitionWrite, open_warehouse, partition_scope
from marketdata_assets_tests.depth import handbuilt as hb

MARKET = market_for_instrument(hb.INSTRUMENT)
SCOPE = partition_scope(hb.INSTRUMENT, hb.TRADING_DATE)
SOURCE = f"projectx:{hb.INSTRUMENT}"


def _projectx_rows() -> tuple[pd.DataFrame, pd.DataFrame]:
    lo = MARKET.window_us(hb.TRADING_DATE)[0]
    events = pd.DataFrame({
        "instrument": hb.INSTRUMENT, "ts": lo + np.array([1, 1, 2, 3]) * 1_000_000, "trading_date": str(hb.TRADING_DATE),
        "seq": [0, 1, 2, 3], "command": [1, 2, 3, 4], "source_code": [6, 2, 1, 4], "flags": [0, 1, 0, 1],
        "num_orders": 0, "price": [50.0, 49.0, 51.0, 49.0], "quantity": [0, 5, 6, 8], "origin": "projectx",
        "source": SOURCE, "source_offset": [0, 1, 2, 3], "run_id": "px"})
    start = pd.DataFrame({"side": ["bid"], "price": [48.0], "quantity": [3], "num_orders": [0]}).assign(
        **SCOPE, source=SOURCE, point="start", run_id="px")
    return events, start


def test_sierra_and_projectx_depth_of_one_partition_stay_apart(warehouse_url, tmp_path):
    hb.write_files(tmp_path)
    events, start = _projectx_rows()
    with open_warehouse(warehouse_url) as wh:
        wh.replace_partitions([PartitionWrite("depth_events", events, {**SCOPE, "source": SOURCE}),
                               PartitionWrite("depth_book_state", start, {**SCOPE, "source": SOURCE, "point": "start"})])
        result = load_depth(wh, tmp_path, hb.INSTRUMENT, MARKET, hb.TRADING_DATE, "r1")
        book = build_book(wh, hb.INSTRUMENT, MARKET, hb.TRADING_DATE, "r1", levels=10)
        px, n_px = replay_partition(wh, hb.INSTRUMENT, hb.TRADING_DATE, origin="projectx", snapshot_us=1)
        stored = wh.read("depth_events", SCOPE)
    assert result.details["reconciliation"] == "raw 13 = kept 9 + quarantined 4" and result.rows_out == 9
    assert book.details["crossed_batch_ends"] == 1 and book.details["batch_ends"] == 8   # as without projectx rows
    assert (stored["origin"] == "projectx").sum() == 4 and set(stored.loc[stored["origin"] == "sierra",
                                                                          "source_code"].isna()) == {True}
    assert n_px == 4 and not px.missing.any()
    # the start book (bid 48) is cleared by the Reset, then bid 49 (modified to 8) and ask 51
    b = px.batches
    assert b["bid"].tolist() == [49.0, 49.0] and b["bid_size"].tolist() == [5, 8]
    assert np.isnan(b["ask"].iloc[0]) and (b["ask"].iloc[1], b["ask_size"].iloc[1]) == (51.0, 6)
