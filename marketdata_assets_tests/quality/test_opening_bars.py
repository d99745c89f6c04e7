"""Opening bars on recorded provider data: before a partition has its own history the
bad-tick scale comes from the previous partition or a default per asset class, never from
the 0.5 bp floor, so ordinary opening moves are kept and real bad prints still caught.

The session is the recorded Alpha Vantage MSFT 1m session (100 bars of 2017-12-18; the
fixtures hold no recorded opening minutes), moved to the 09:30 New York bell: for its
partition these are the first bars, exactly as at an open."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.pipelines.quality import validate_provider_bars
from marketdata_assets.sources.http.alphavantage import parse_time_series
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets.testkit.recorded import load_recorded
from marketdata_assets.transforms.quality import assess_bars

from .helpers import shift_from

RECORDED = "alphavantage/time_series_intraday_1min_MSFT.json"
MARKET = market_for_instrument("MSFT")
TODAY, YESTERDAY = date(2017, 12, 18), date(2017, 12, 15)
OHLC = ["open", "high", "low", "close"]


def session(day: date = TODAY) -> pd.DataFrame:
    """The recorded session as provider candidates of ``day``, its first bar at 09:30 New York."""
    bars = parse_time_series(load_recorded(RECORDED), "1m")
    bell = pd.Timestamp(f"{day} 09:30", tz="America/New_York").tz_convert("UTC")
    bars["ts"] = (bars["ts"] - bars["ts"].iloc[0] + bell).astype("datetime64[us, UTC]")
    return bars.assign(instrument="MSFT", trading_date=pd.Timestamp(day), timeframe="1m", run_id="test")


def with_moves(bars: pd.DataFrame, moves_bp: dict[int, float]) -> pd.DataFrame:
    """Continuous moves: from bar ``i`` on, the whole session trades ``bp`` higher."""
    for row, bp in moves_bp.items():
        bars = shift_from(bars, row, bars.loc[row - 1, "close"] * bp * 1e-4, OHLC)
    return bars


def test_ordinary_opening_moves_of_a_recorded_session_are_kept_without_a_flag():
    bars = with_moves(session(), {1: 30.0, 2: 65.0})  # the moves the issue saw in AAPL's first minutes

    report = assess_bars(bars, MARKET, TODAY, None)

    assert report.quarantined.empty
    assert len(report.kept) == 100 and report.kept["volume"].sum() == bars["volume"].sum()
    assert {k: v for k, v in report.rule_counts.items() if v} == {}


def test_real_bad_prints_in_the_opening_minutes_are_still_quarantined():
    bars = with_moves(session(), {4: 2000.0})  # a 20 % jump in the fifth minute
    bars.loc[2, ["close", "high"]] = bars.loc[2, "close"] * 10  # a decimal-shifted print, then back

    report = assess_bars(bars, MARKET, TODAY, None)

    assert dict(zip(report.quarantined.index, report.quarantined["reason"], strict=True)) == {
        2: "isolated_spike", 4: "price_jump_extreme"}


def _store_raw(wh, bars: pd.DataFrame, day: date) -> None:
    raw = bars.drop(columns=["trading_date"]).assign(trading_date=str(day))
    wh.replace_partition("raw_bars", raw, partition_scope("MSFT", day))


@pytest.mark.parametrize("previous_day", ["volatile", "none"])
def test_before_its_own_history_a_partition_takes_the_scale_of_the_previous_partition(warehouse_url, previous_day):
    today = with_moves(session(), {2: 700.0})  # 7 % in the third minute
    with open_warehouse(warehouse_url) as wh:
        if previous_day == "volatile":  # the recorded moves ten times over: 1m bars of ~40 bp
            calm = session(YESTERDAY)
            mid = calm[OHLC].to_numpy().mean()
            _store_raw(wh, calm.assign(**{c: mid + 10 * (calm[c] - mid) for c in OHLC}), YESTERDAY)
            validate_provider_bars(wh, "MSFT", MARKET, YESTERDAY, "r0", tick_size=None, run_gx=False)
        _store_raw(wh, today, TODAY)

        result = validate_provider_bars(wh, "MSFT", MARKET, TODAY, "r1", tick_size=None, run_gx=False)
        kept = wh.count("base_bars", {**partition_scope("MSFT", TODAY), "origin": "provider"})

    if previous_day == "volatile":  # 700 bp is ~20 × that day's scale: a mild jump, kept
        assert result.quarantined == 0 and kept == 100
        warmup = result.details["bad_tick_warmup"]
        assert warmup["from"] == f"previous partition {YESTERDAY}" and 30 < warmup["scale_bp"] < 60
    else:  # 700 bp is 70 × the STOCK default of 10 bp: quarantined
        assert result.quarantined == 1 and kept == 99
        assert result.details["quarantined_by_rule"] == {"price_jump_extreme": 1}
        assert result.details["bad_tick_warmup"] == {"from": "asset class STOCK", "scale_bp": 10.0}
    assert np.isfinite(result.partition_score)


def test_after_a_calm_previous_day_ordinary_opening_moves_are_still_not_flagged(warehouse_url):
    with open_warehouse(warehouse_url) as wh:
        _store_raw(wh, session(YESTERDAY), YESTERDAY)  # the recorded session as it was: ~4 bp per minute
        validate_provider_bars(wh, "MSFT", MARKET, YESTERDAY, "r0", tick_size=None, run_gx=False)
        _store_raw(wh, with_moves(session(), {1: 30.0, 2: 65.0}), TODAY)

        result = validate_provider_bars(wh, "MSFT", MARKET, TODAY, "r1", tick_size=None, run_gx=False)

    assert result.quarantined == 0 and result.partition_score == 1.0  # not even a mild flag
    assert result.details["bad_tick_warmup"] == {"from": "asset class STOCK", "scale_bp": 10.0}
