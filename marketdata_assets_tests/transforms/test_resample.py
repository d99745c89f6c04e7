"""Bars of any timeframe from 1m bars equal the bars built from the trades themselves."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.transforms.aggregation import bars_from_trades
from marketdata_assets.transforms.resample import resample_bars, step_us

DAY = date(2024, 3, 8)
MARKET = market_for_instrument("ESH24")


def _trades(n: int = 20_000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    start = MARKET.session_open_us(DAY)
    ts = np.sort(start + rng.integers(0, 20 * 3_600_000_000, n))
    return pd.DataFrame({"ts": pd.to_datetime(ts, unit="us", utc=True), "price": 5000 + rng.integers(-40, 40, n) * 0.25,
                         "size": rng.integers(1, 10, n), "aggressor": rng.choice([1, 2], n), "num_trades": 1})


def _as_stored(bars: pd.DataFrame) -> pd.DataFrame:
    return bars.assign(instrument="ESH24", trading_date=DAY.isoformat(), origin="sierra", source="ticks", run_id="r")


@pytest.mark.parametrize("timeframe", ["5m", "15m", "1h", "4h"])
def test_resampled_1m_bars_equal_bars_built_from_the_trades(timeframe):
    trades = _trades()
    one = _as_stored(bars_from_trades(trades, MARKET, DAY, ("1m",)))
    direct = bars_from_trades(trades, MARKET, DAY, (timeframe,))

    got = resample_bars(one, timeframe, {("ESH24", DAY.isoformat()): MARKET.session_open_us(DAY)})

    assert len(got) == len(direct) > 0
    assert (got["ts"].to_numpy() == direct["ts"].to_numpy()).all()
    for col in ("open", "high", "low", "close", "volume", "num_trades", "bid_volume", "ask_volume"):
        np.testing.assert_array_equal(got[col].to_numpy(float), direct[col].to_numpy(float), err_msg=col)
    np.testing.assert_allclose(got["vwap"].to_numpy(float), direct["vwap"].to_numpy(float), rtol=1e-12)


def test_odd_timeframes_are_counted_from_the_session_open():
    one = _as_stored(bars_from_trades(_trades(), MARKET, DAY, ("1m",)))

    got = resample_bars(one, "7m", {("ESH24", DAY.isoformat()): MARKET.session_open_us(DAY)})

    offsets = (got["ts"].astype("int64") - MARKET.session_open_us(DAY)) % 420_000_000   # µs
    assert (offsets == 0).all() and got["timeframe"].unique().tolist() == ["7m"]
    assert got["volume"].sum() == one["volume"].sum()


@pytest.mark.parametrize(("spec", "us"), [("3m", 180_000_000), ("2h", 7_200_000_000), ("24h", 86_400_000_000),
                                          ("0m", None), ("25h", None), ("1d", None), ("5x", None)])
def test_timeframe_specs(spec, us):
    assert step_us(spec) == us
