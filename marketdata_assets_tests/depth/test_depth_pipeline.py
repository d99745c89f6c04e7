"""sierra_depth and book_snapshots steps on the hand-built files, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.pipelines.bars import book_at, build_book
from marketdata_assets.pipelines.sierra.depth import load_depth
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets_tests.depth import handbuilt as hb

MARKET = market_for_instrument(hb.INSTRUMENT)
SCOPE = partition_scope(hb.INSTRUMENT, hb.TRADING_DATE)


def load(wh, directory, run_id="r1", **kw):
    return load_depth(wh, directory, hb.INSTRUMENT, MARKET, hb.TRADING_DATE, run_id, **kw)


def snapshots_by_instant(wh) -> dict:
    snaps = wh.read("book_snapshots", SCOPE, order_by=("ts", "side", "level"))
    snaps = snaps.assign(ts=snaps["ts"].dt.as_unit("us").astype("int64"))
    out = {}
    for ts, g in snaps.groupby("ts"):
        g = pd.concat([g[g.side == "bid"].sort_values("level"), g[g.side == "ask"].sort_values("level")])
        out[int(ts)] = [(r.side, r.price, r.quantity) for r in g.itertuples()]
    return out


def test_handbuilt_files_give_exact_events_quarantine_and_snapshots(warehouse_url, tmp_path):
    hb.write_files(tmp_path)
    with open_warehouse(warehouse_url) as wh:
        result = load(wh, tmp_path)
        book = build_book(wh, hb.INSTRUMENT, MARKET, hb.TRADING_DATE, "r1", levels=10)

        events = wh.read("depth_events", SCOPE, order_by=("seq",))
        quarantine = wh.read("quarantine", {**SCOPE, "stage": "sierra_depth"}, order_by=("source_offset",))
        snaps = snapshots_by_instant(wh)
        bars = wh.read("book_bars", SCOPE, order_by=("ts",))

    assert events["seq"].tolist() == hb.KEPT_SEQ
    assert events["command"].tolist() == [2, 4, 3, 2, 2, 6, 6, 4, 7]
    assert events["price"].tolist() == [100.25, 100.0, 100.75, 100.5, 100.75, 100.75, 100.5, 100.25, 100.5]
    assert events["origin"].unique().tolist() == ["sierra"]
    assert events["source"].str.endswith(".depth").all()
    assert {json.loads(r)["seq"]: reason for r, reason in zip(quarantine["raw"], quarantine["reason"], strict=True)} \
        == hb.QUARANTINED
    assert len(events) + len(quarantine) == 13 == result.details["files"][0]["in_trading_date"] + \
        result.details["files"][1]["in_trading_date"]
    assert result.details["book_at_start"] == "clear_book"
    assert result.details["reconciled"] and result.details["reconciliation"] == "raw 13 = kept 9 + quarantined 4"
    assert result.details["files"][1]["pending_records"] == 1 and result.details["files"][1]["trailing_bytes"] == 5
    # the materialization previews the events it wrote (the UI showed "_no rows_" beside 9 rows)
    assert 0 < len(result.preview) <= 5 and result.preview["seq"].tolist() == hb.KEPT_SEQ[:len(result.preview)]
    assert str(result.preview["ts"].dt.tz) == "UTC"
    assert snaps == hb.EXPECTED_SNAPSHOTS
    assert book.details["crossed_batch_ends"] == 1 and book.details["locked_batch_ends"] == 1
    assert bars["crossed_batches"].sum() == 2 and bars["batches"].sum() == 8


def test_appended_records_read_incrementally_give_the_same_book_as_one_read(warehouse_url, tmp_path):
    hb.write_files(tmp_path, b_rows=3, trailing=b"")      # file B cut inside a batch (its 3rd record has no eob)
    with open_warehouse(warehouse_url) as wh:
        first = load(wh, tmp_path)
        hb.write_files(tmp_path)                          # Sierra Chart appends the rest of the day
        second = load(wh, tmp_path, run_id="r2")
        third = load(wh, tmp_path, run_id="r3")           # nothing new: nothing changes
        build_book(wh, hb.INSTRUMENT, MARKET, hb.TRADING_DATE, "r3")
        inc = (wh.read("depth_events", SCOPE, order_by=("seq",)), snapshots_by_instant(wh),
               wh.count("quarantine", {**SCOPE, "stage": "sierra_depth"}))
        load(wh, tmp_path, run_id="r4", full_refresh=True)  # the same files in one read
        build_book(wh, hb.INSTRUMENT, MARKET, hb.TRADING_DATE, "r4")
        full = (wh.read("depth_events", SCOPE, order_by=("seq",)), snapshots_by_instant(wh),
                wh.count("quarantine", {**SCOPE, "stage": "sierra_depth"}))

    assert first.details["files"][1]["pending_records"] == 1
    assert second.details["files"][0]["records_read"] == 0 and not second.details["files"][1]["reset"]
    assert second.details["files"][1]["start_offset"] == 64 + 2 * 24
    assert third.rows_in == 0 and third.preview is None
    cols = ["seq", "ts", "command", "flags", "price", "quantity", "source_offset"]
    assert full[0][cols].equals(inc[0][cols]) and len(full[0]) == 9
    assert inc[1] == full[1] == hb.EXPECTED_SNAPSHOTS
    assert inc[2] == full[2] == 4


def test_book_at_an_instant_is_the_last_batch_end_at_or_before_it(warehouse_url, tmp_path):
    hb.write_files(tmp_path)
    with open_warehouse(warehouse_url) as wh:
        load(wh, tmp_path)
        book = book_at(wh, hb.INSTRUMENT, hb.TRADING_DATE, hb.B0 + 299 * hb.MS)
        before = book_at(wh, hb.INSTRUMENT, hb.TRADING_DATE, hb.A0 + 499 * hb.MS)

    assert [(r.side, r.price, r.quantity) for r in book.itertuples()] == hb.EXPECTED_SNAPSHOTS[hb.B0]
    assert np.all(book["as_of"] == hb.B0) and book["level"].tolist() == [1, 2, 3, 4, 1, 2]
    # no end-of-batch of the trading date yet: the book it started with (the previous day's snapshot)
    assert [(r.side, r.price, r.quantity) for r in before.itertuples()] == [("bid", 100.0, 5), ("ask", 100.5, 4)]
    assert before["as_of"].isna().all()
