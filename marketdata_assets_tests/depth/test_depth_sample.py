"""Sample .depth files agree with the sample .scid quotes, across the two UTC-day files."""

from __future__ import annotations

from datetime import date

from marketdata_assets.model.contracts import tick_size_for
from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.pipelines.bars import build_book, quote_agreement, scid_quotes
from marketdata_assets.pipelines.sierra.depth import depth_files, load_depth
from marketdata_assets.pipelines.sierra.ticks import load_raw, scid_path
from marketdata_assets.storage.warehouse import open_warehouse
from marketdata_assets.testkit.depth_sample import write_sample_depth


def test_sample_depth_book_matches_scid_quotes_at_every_snapshot(sample_dir, tmp_path):
    depth_dir = tmp_path / "MarketDepthData"
    write_sample_depth(sample_dir, depth_dir, instruments=("ESH24",))
    market, day = market_for_instrument("ESH24"), date(2024, 3, 8)
    with open_warehouse(f"sqlite:///{tmp_path}/wh.db") as wh:
        load_raw(wh, scid_path(sample_dir, "ESH24"), "ESH24", market, day, "r")
        loaded = load_depth(wh, depth_dir, "ESH24", market, day, "r")
        book = build_book(wh, "ESH24", market, day, "r")
        agreement = quote_agreement(book.snapshots, scid_quotes(wh, "ESH24", day), tick_size_for("ESH24"))

    assert [p.name for p in depth_files(depth_dir, "ESH24", market, day)] == \
        ["ESH24.2024-03-07.depth", "ESH24.2024-03-08.depth"]
    assert all(f["in_trading_date"] > 0 for f in loaded.details["files"])
    assert loaded.details["quarantined"] == 0
    assert book.details["crossed_batch_ends"] == 0 and book.details["locked_batch_ends"] == 0
    assert agreement["compared"] > 1000 and agreement["share"] == 1.0


def test_quote_agreement_counts_instants_more_than_a_tick_away():
    import pandas as pd

    snaps = pd.DataFrame({"ts": [10, 10, 20, 20], "side": ["bid", "ask"] * 2, "level": 1,
                          "price": [100.0, 100.25, 100.0, 100.25]})
    quotes = pd.DataFrame({"ts": [5, 15], "bid": [100.0, 100.75], "ask": [100.25, 101.0]})

    result = quote_agreement(snaps, quotes, 0.25)

    assert result["compared"] == 2 and result["agreeing"] == 1 and result["worst_ticks"] == 3.0
