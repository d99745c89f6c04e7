"""Bars from ticks equal an independent pandas computation; DST neither shifts nor duplicates."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from marketdata_assets.model.sessions import _market_from, market_for_instrument
from marketdata_assets.sources.sierra.scid import read_scid
from marketdata_assets.transforms.aggregation import bars_from_bars, bars_from_trades
from marketdata_assets.transforms.normalize import raw_frame, split_raw

PANDAS_FREQ = {"1m": "1min", "5m": "5min", "15m": "15min", "1h": "1h", "4h": "4h"}


def session_trades(sample_dir, instrument: str, day: str):
    market = market_for_instrument(instrument)
    chunk = read_scid(sample_dir / f"{instrument}.scid")
    raw = raw_frame(chunk.records, instrument, market, chunk.path, "t")
    ticks, _ = split_raw(raw[raw["trading_date"] == np.datetime64(day)])
    return market, ticks[ticks["kind"] == "trade"].reset_index(drop=True)


def pandas_bars(trades: pd.DataFrame, origin: pd.Timestamp, tf: str) -> pd.DataFrame:
    """Independent reference: pandas resample anchored at the session open."""
    s = trades.set_index("ts")
    grouper = s.resample(PANDAS_FREQ[tf], origin=origin, label="left", closed="left") if tf != "1d" \
        else s.groupby(lambda _: origin)
    out = grouper["price"].ohlc()
    out["volume"] = grouper["size"].sum()
    out["vwap"] = grouper.apply(lambda g: (g["price"] * g["size"]).sum() / g["size"].sum() if len(g) else np.nan)
    out["ask_volume"] = grouper.apply(lambda g: g.loc[g["aggressor"] == 1, "size"].sum() if len(g) else 0)
    return out.dropna(subset=["open"])


@pytest.mark.parametrize("instrument, day", [("ESH24", "2024-03-08"), ("ESH24", "2024-03-11"),
                                              ("EURUSD", "2024-03-11"), ("CLJ24", "2024-03-07")])
def test_bars_equal_independent_pandas_bars(sample_dir, instrument, day):
    market, trades = session_trades(sample_dir, instrument, day)
    origin = pd.Timestamp(market.session_open_us(date.fromisoformat(day)), unit="us", tz="UTC")

    bars = bars_from_trades(trades, market, date.fromisoformat(day))

    for tf in ("1m", "5m", "15m", "1h", "4h", "1d"):
        ours = bars[bars["timeframe"] == tf].set_index("ts")
        ref = pandas_bars(trades, origin, tf)
        assert list(ours.index) == list(ref.index), tf
        for col in ("open", "high", "low", "close", "volume", "ask_volume"):
            np.testing.assert_allclose(ours[col].to_numpy(float), ref[col].to_numpy(float), err_msg=f"{tf} {col}")
        np.testing.assert_allclose(ours["vwap"].to_numpy(float), ref["vwap"].to_numpy(float), rtol=1e-12)


def test_cme_sessions_on_both_sides_of_dst_have_23_hourly_bars_and_one_daily(sample_dir):
    for day, open_utc in (("2024-03-08", "2024-03-07 23:00"), ("2024-03-11", "2024-03-10 22:00")):
        market, trades = session_trades(sample_dir, "ESH24", day)

        bars = bars_from_trades(trades, market, date.fromisoformat(day))

        hourly = bars[bars["timeframe"] == "1h"]["ts"]
        assert len(hourly) <= 23 and hourly.is_unique
        assert hourly.min() >= pd.Timestamp(open_utc, tz="UTC")
        assert ((hourly - pd.Timestamp(open_utc, tz="UTC")) % pd.Timedelta("1h") == pd.Timedelta(0)).all()
        daily = bars[bars["timeframe"] == "1d"]
        assert len(daily) == 1 and str(daily["ts"].iloc[0]) == f"{open_utc}:00+00:00"


@pytest.mark.parametrize("day, hours", [(date(2024, 3, 10), 23), (date(2024, 11, 3), 25)])
def test_session_spanning_dst_change_has_right_hour_count_and_one_daily_bar(day, hours):
    market = _market_from({
        "code": "T", "name": "24h Chicago", "asset_class": "X", "timezone": "America/Chicago", "day_start": "00:00",
        "sessions": [{"name": "all", "start": "00:00", "end": "00:00"}], "weekdays": list(range(7)), "holidays": [],
    })
    lo, hi = market.window_us(day)
    ts = np.arange(lo, hi, 60_000_000) + 30_000_000  # one trade in every minute of the session
    trades = pd.DataFrame({"ts": pd.to_datetime(ts, unit="us", utc=True), "price": 100.0, "size": 1,
                           "aggressor": 1, "num_trades": 1})

    bars = bars_from_trades(trades, market, day)

    hourly = bars[bars["timeframe"] == "1h"]
    assert len(hourly) == hours and hourly["ts"].is_unique
    assert hourly["volume"].sum() == len(ts)
    assert len(bars[bars["timeframe"] == "1d"]) == 1


def test_bars_from_base_bars_aggregate_ohlc_and_leave_vwap_unknown():
    market = market_for_instrument("GCJ24")
    day = date(2024, 3, 11)
    start = market.session_open_us(day)
    base = pd.DataFrame({
        "ts": pd.to_datetime(start + np.arange(6) * 60_000_000, unit="us", utc=True),
        "open": [1, 2, 3, 4, 5, 6.0], "high": [2, 3, 9, 5, 6, 7.0], "low": [0.5, 1, 2, 3, 4, 5.0],
        "close": [2, 3, 4, 5, 6, 6.5], "volume": [10, 10, 10, 10, 10, 10],
    })

    five = bars_from_bars(base, market, day, timeframes=("5m",))

    assert five[["open", "high", "low", "close", "volume"]].values.tolist() == [[1, 9, 0.5, 6, 50], [6, 7, 5, 6.5, 10]]
    assert five["vwap"].isna().all()


@pytest.mark.parametrize("spacing_s", [7, 3_600])   # dense: bar edges located; sparse: bar start per tick
def test_sparse_and_dense_trades_fall_in_the_bars_of_their_bar_starts(spacing_s):
    market = market_for_instrument("ESH24")
    day = date(2024, 3, 11)
    open_us = market.session_open_us(day)
    ts = open_us + 30_000_000 + np.arange(20, dtype=np.int64) * spacing_s * 1_000_000
    trades = pd.DataFrame({"ts": pd.to_datetime(ts, unit="us", utc=True), "price": 5000.0 + np.arange(20),
                           "size": 1, "aggressor": np.where(np.arange(20) % 2, 1, 2), "num_trades": 1})

    bars = bars_from_trades(trades, market, day, timeframes=("1m",))

    starts = open_us + (ts - open_us) // 60_000_000 * 60_000_000
    expected = pd.Series(1, index=starts).groupby(level=0).sum()
    assert (bars["ts"].array.as_unit("us").asi8 == expected.index.to_numpy()).all()
    assert bars["volume"].tolist() == expected.tolist()
    assert bars["ask_volume"].sum() == 10 and bars["bid_volume"].sum() == 10
