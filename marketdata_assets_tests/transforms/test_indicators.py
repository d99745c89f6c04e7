"""Indicators: batch and incremental paths against TA-Lib itself (called directly here).

The bars are geometric random walks with consistent OHLC (low <= open, close <= high),
a few zero-volume bars and a new trading date every 390 bars.
"""

from __future__ import annotations

import json
import platform
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import talib

from marketdata_assets.errors import ConfigError, SchemaMismatch
from marketdata_assets.transforms.incremental import IncrementalIndicators
from marketdata_assets.transforms.indicators import (
    INDICATOR_COLUMNS,
    IndicatorParams,
    compute_indicators,
    indicator_columns,
    warmup_bars,
)

SESSION_BARS = 390


def make_bars(n: int, seed: int, price: float = 100.0, sigma: float = 0.002) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = price * np.exp(np.cumsum(rng.normal(0.0, sigma, n)))
    open_ = np.r_[price, close[:-1]] * np.exp(rng.normal(0.0, sigma / 4, n))
    wicks = np.abs(rng.normal(0.0, sigma / 2, (2, n)))
    high = np.maximum(open_, close) * np.exp(wicks[0])
    low = np.minimum(open_, close) * np.exp(-wicks[1])
    volume = np.floor(rng.lognormal(5.0, 1.0, n))
    volume[rng.random(n) < 0.02] = 0.0
    day, minute = np.divmod(np.arange(n), SESSION_BARS)
    ts = pd.Timestamp("2024-01-02 14:30", tz="UTC") + pd.to_timedelta(day * 1440 + minute, unit="min")
    trading_date = [date(2024, 1, 2) + timedelta(days=int(d)) for d in day]
    return pd.DataFrame(
        {"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume,
         "trading_date": trading_date}
    )


def talib_reference(bars: pd.DataFrame, params: IndicatorParams) -> pd.DataFrame:
    """Every column straight from TA-Lib, VWAP from an independent pandas groupby."""
    high, low, close = (bars[k].to_numpy(dtype=np.float64) for k in ("high", "low", "close"))
    p = params
    ref = {f"rsi_{p.rsi_period}": talib.RSI(close, p.rsi_period)}
    ref |= {f"ema_{n}": talib.EMA(close, n) for n in p.ema_periods}
    ref |= {f"sma_{n}": talib.SMA(close, n) for n in p.sma_periods}
    ref["macd"], ref["macd_signal"], ref["macd_hist"] = talib.MACD(close, p.macd_fast, p.macd_slow, p.macd_signal)
    ref["bb_upper"], ref["bb_middle"], ref["bb_lower"] = talib.BBANDS(
        close, p.bb_period, p.bb_nbdev_up, p.bb_nbdev_dn, matype=0
    )
    ref[f"atr_{p.atr_period}"] = talib.ATR(high, low, close, p.atr_period)
    pv = bars["volume"] * (bars["high"] + bars["low"] + bars["close"]) / 3.0
    by_day = bars.assign(pv=pv).groupby("trading_date")
    ref["vwap"] = (by_day["pv"].cumsum() / by_day["volume"].cumsum().where(lambda v: v > 0)).to_numpy()
    ref["stoch_k"], ref["stoch_d"] = talib.STOCH(high, low, close, p.stoch_fastk, p.stoch_slowk, 0, p.stoch_slowd, 0)
    return pd.DataFrame(ref, index=bars.index)


def run_updates(engine: IncrementalIndicators, bars: pd.DataFrame) -> pd.DataFrame:
    rows = [engine.update(bar) for bar in bars.to_dict("records")]
    return pd.DataFrame(rows, index=bars.index)


def assert_matches(actual: pd.DataFrame, expected: pd.DataFrame, atol: float = 1e-9) -> None:
    for col in expected.columns:
        a, e = actual[col].to_numpy(dtype=np.float64), expected[col].to_numpy(dtype=np.float64)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=f"{col}: NaN positions differ")
        np.testing.assert_allclose(a, e, rtol=1e-9, atol=atol, err_msg=col)


@pytest.mark.parametrize(("seed", "price"), [(1, 100.0), (2, 50_000.0), (3, 1.1)])
def test_incremental_updates_match_talib_on_20k_bar_random_walks(seed, price):
    bars = make_bars(20_000, seed, price)
    assert_matches(run_updates(IncrementalIndicators(), bars), talib_reference(bars, IndicatorParams()))


def test_batch_matches_talib_with_talib_warmup_indexes():
    bars = make_bars(3_000, seed=4)

    out = compute_indicators(bars)

    assert list(out.columns) == ["ts", *INDICATOR_COLUMNS]
    assert (out["ts"] == bars["ts"]).all()
    assert_matches(out, talib_reference(bars, IndicatorParams()), atol=0.0)
    first_value = {c: int(out[c].notna().to_numpy().argmax()) for c in INDICATOR_COLUMNS}
    assert first_value == {
        "rsi_14": 14, "ema_20": 19, "sma_20": 19, "macd": 33, "macd_signal": 33, "macd_hist": 33,
        "bb_upper": 19, "bb_middle": 19, "bb_lower": 19, "atr_14": 14, "vwap": 0,
        "stoch_k": 17, "stoch_d": 17,
    }
    assert warmup_bars() == 33


def test_non_default_params_match_talib_in_both_paths():
    params = IndicatorParams(
        rsi_period=7, ema_periods=(5, 50), sma_periods=(10, 30), macd_fast=5, macd_slow=35, macd_signal=4,
        bb_period=10, bb_nbdev_up=1.5, bb_nbdev_dn=2.5, atr_period=1, stoch_fastk=5, stoch_slowk=1, stoch_slowd=4,
    )
    bars = make_bars(4_000, seed=5)
    expected = talib_reference(bars, params)

    assert indicator_columns(params) == (
        "rsi_7", "ema_5", "ema_50", "sma_10", "sma_30", "macd", "macd_signal", "macd_hist",
        "bb_upper", "bb_middle", "bb_lower", "atr_1", "vwap", "stoch_k", "stoch_d",
    )
    assert_matches(compute_indicators(bars, params), expected, atol=0.0)
    assert_matches(IncrementalIndicators(params).process_frame(bars), expected)


def edge_case_series() -> dict[str, pd.DataFrame]:
    # Flat start (RSI without any change, zero stochastic range, zero variance), a spike
    # leaving an otherwise flat window, then a walk.
    flat = make_bars(200, seed=6)
    flat[["open", "high", "low", "close"]] = 100.0
    flat.loc[120, ["high", "close"]] = 150.0
    walk = make_bars(1_000, seed=7)
    walk["ts"] += pd.Timedelta(days=10)
    # A bad tick in a calm market: its squared deviation buries the window's (variance reseed).
    bad_tick = make_bars(2_000, seed=15, sigma=1e-5)
    bad_tick.loc[700, ["high", "close"]] = 10_000.0
    # A long trend at a high price level: shifted sums drift without periodic reseeds.
    trend = make_bars(20_000, seed=16, price=50_000.0, sigma=1e-4)
    trend[["open", "high", "low", "close"]] *= np.exp(np.linspace(0.0, 0.7, len(trend)))[:, None]
    # A market that freezes at an awkward price, its high one ulp above its low: a
    # machine-flat stochastic range and a variance that is rounding residue only.
    frozen = make_bars(400, seed=18)
    frozen.loc[300:, ["open", "low"]] = 101.37
    frozen.loc[300:, ["high", "close"]] = np.nextafter(101.37, np.inf)
    return {
        "flat_then_walk": pd.concat([flat, walk], ignore_index=True),
        "frozen": frozen,
        "bad_tick": bad_tick,
        "trend": trend,
        "tiny_prices": make_bars(3_000, seed=8, price=1e-6),
    }


@pytest.mark.parametrize("name", ["flat_then_walk", "frozen", "bad_tick", "trend", "tiny_prices"])
def test_edge_case_series_match_talib(name):
    bars = edge_case_series()[name]
    atol = 1e-18 if name == "tiny_prices" else 1e-9

    assert_matches(IncrementalIndicators().process_frame(bars), talib_reference(bars, IndicatorParams()), atol)


@pytest.mark.skipif(
    platform.machine() != "x86_64" or not talib.__ta_version__.startswith(b"0.8."),
    reason="bit-exactness verified against the TA-Lib 0.8 x86_64 wheel only",
)
def test_non_fma_indicators_are_bit_identical_to_talib():
    # ATR and the EMA/MACD recurrences differ in the last bit where the wheel's compiler
    # fuses a*b + c into an FMA; every other column repeats TA-Lib's arithmetic exactly.
    exact = ["rsi_14", "sma_20", "bb_upper", "bb_middle", "bb_lower", "stoch_k", "stoch_d"]
    for bars in [make_bars(20_000, seed=17), *edge_case_series().values()]:
        actual = IncrementalIndicators().process_frame(bars)
        pd.testing.assert_frame_equal(actual[exact], talib_reference(bars, IndicatorParams())[exact], check_exact=True)


def test_vwap_is_anchored_to_each_trading_date():
    bars = make_bars(3 * SESSION_BARS, seed=9)
    bars.loc[SESSION_BARS : SESSION_BARS + 2, "volume"] = 0.0  # second session opens without trades

    batch = compute_indicators(bars)["vwap"].to_numpy()
    streamed = IncrementalIndicators().process_frame(bars)["vwap"].to_numpy()

    np.testing.assert_allclose(streamed, batch, rtol=1e-12, equal_nan=True)
    for start in (0, 2 * SESSION_BARS):  # a session's first VWAP is that bar's typical price
        typical = bars.loc[start, ["high", "low", "close"]].sum() / 3.0
        assert batch[start] == pytest.approx(typical, rel=1e-12)
    assert np.isnan(batch[SESSION_BARS : SESSION_BARS + 3]).all()
    assert not np.isnan(batch[SESSION_BARS + 3])


def test_state_dict_round_trip_continues_identically():
    bars = make_bars(3_000, seed=10)
    continuous = IncrementalIndicators().process_frame(bars)
    first = IncrementalIndicators()
    first.process_frame(bars.iloc[:1_777])

    state = json.loads(json.dumps(first.state_dict(), allow_nan=False))
    resumed = IncrementalIndicators.from_state(state).process_frame(bars.iloc[1_777:])

    pd.testing.assert_frame_equal(resumed, continuous.iloc[1_777:], check_exact=True)


def test_warm_on_previous_partitions_then_today_equals_continuous_computation():
    bars = make_bars(5 * SESSION_BARS, seed=11)
    today = bars["trading_date"] == bars["trading_date"].iloc[-1]
    engine = IncrementalIndicators()
    for _, partition in bars[~today].groupby("trading_date"):
        engine.warm(partition)

    today_values = engine.process_frame(bars[today])

    pd.testing.assert_frame_equal(today_values, IncrementalIndicators().process_frame(bars)[today], check_exact=True)
    assert_matches(today_values, compute_indicators(bars)[today])


def test_rejected_bars_leave_the_state_untouched():
    bars = make_bars(100, seed=12).to_dict("records")
    engine, reference = IncrementalIndicators(), IncrementalIndicators()
    for bar in bars[:50]:
        engine.update(bar)
        reference.update(bar)

    with pytest.raises(SchemaMismatch, match="not after"):
        engine.update(bars[10])
    with pytest.raises(SchemaMismatch, match="non-finite"):
        engine.update({**bars[50], "close": float("nan")})
    with pytest.raises(SchemaMismatch, match="volume"):
        engine.update({k: v for k, v in bars[50].items() if k != "volume"})

    assert engine.update(bars[50]) == reference.update(bars[50])


def test_bad_inputs_raise_domain_errors():
    bars = make_bars(50, seed=13)
    with pytest.raises(SchemaMismatch, match="volume"):
        compute_indicators(bars.drop(columns="volume"))
    with pytest.raises(SchemaMismatch, match="increasing"):
        compute_indicators(bars.iloc[::-1])
    with pytest.raises(ConfigError, match="macd_fast"):
        IndicatorParams(macd_fast=26, macd_slow=12)
    with pytest.raises(ConfigError, match="ema_periods"):
        IndicatorParams(ema_periods=(20, 20))
    with pytest.raises(SchemaMismatch, match="version"):
        IncrementalIndicators.from_state({"version": 0})


def test_empty_and_short_inputs_give_nan_columns():
    bars = make_bars(10, seed=14)
    assert compute_indicators(bars.iloc[:0]).empty
    short = compute_indicators(bars)
    assert short["rsi_14"].isna().all() and short["vwap"].notna().any()
