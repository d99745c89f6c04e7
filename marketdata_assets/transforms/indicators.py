"""Technical indicators over one instrument's bars, computed in one vectorized pass.

Why this module exists: the ``indicators`` asset needs RSI, EMA, SMA, MACD, Bollinger
Bands, ATR, session VWAP and slow stochastic for every bar of a partition, with values
that match what traders see in TA-Lib-based tools. So everything but VWAP is delegated
to TA-Lib itself (no re-implementation to drift from it); VWAP is not in TA-Lib and is
computed with a grouped cumulative sum. The streaming sidecar computes the same columns
bar by bar with :mod:`marketdata_assets.transforms.incremental`, which reproduces
TA-Lib's algorithms (seeding, warm-up indexes, running sums) so both paths agree.

Output contract: a WIDE frame indexed like ``bars`` with ``ts`` and one float64 column
per indicator output (names from :func:`indicator_columns`), NaN during each
indicator's warm-up exactly where TA-Lib (default settings: compatibility 0, unstable
period 0) puts NaN. Pure: no I/O, no Dagster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import talib

from marketdata_assets.errors import ConfigError, SchemaMismatch

BAR_COLUMNS: tuple[str, ...] = ("ts", "open", "high", "low", "close", "volume", "trading_date")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class IndicatorParams:
    """Indicator settings; defaults are TA-Lib's usual ones.

    Bollinger Bands and stochastic smoothing always use a simple moving average (TA-Lib
    ``matype=0``), the variant the incremental engine reproduces.
    """

    rsi_period: int = 14
    ema_periods: tuple[int, ...] = (20,)
    sma_periods: tuple[int, ...] = (20,)
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    bb_period: int = 20
    bb_nbdev_up: float = 2.0
    bb_nbdev_dn: float = 2.0
    atr_period: int = 14
    stoch_fastk: int = 14
    stoch_slowk: int = 3
    stoch_slowd: int = 3

    def __post_init__(self) -> None:
        # Accept lists (e.g. from JSON state or run config) but store tuples: hashable, frozen.
        object.__setattr__(self, "ema_periods", tuple(int(p) for p in self.ema_periods))
        object.__setattr__(self, "sma_periods", tuple(int(p) for p in self.sma_periods))
        minimums = {
            "rsi_period": 2, "macd_fast": 2, "macd_slow": 2, "macd_signal": 2, "bb_period": 2,
            "atr_period": 1, "stoch_fastk": 1, "stoch_slowk": 1, "stoch_slowd": 1,
        }
        for name, low in minimums.items():
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise ConfigError(f"IndicatorParams.{name} must be an int >= {low}, got {value!r}")
        for name in ("ema_periods", "sma_periods"):
            periods = getattr(self, name)
            if not periods or min(periods) < 2 or len(set(periods)) != len(periods):
                raise ConfigError(f"IndicatorParams.{name} must be distinct ints >= 2, got {periods!r}")
        if self.macd_fast >= self.macd_slow:
            # TA-Lib silently swaps them; a swapped config is a mistake we'd rather surface.
            raise ConfigError("IndicatorParams.macd_fast must be smaller than macd_slow")
        for name in ("bb_nbdev_up", "bb_nbdev_dn"):
            if not np.isfinite(getattr(self, name)):
                raise ConfigError(f"IndicatorParams.{name} must be finite")


DEFAULT_PARAMS = IndicatorParams()


def indicator_columns(params: IndicatorParams = DEFAULT_PARAMS) -> tuple[str, ...]:
    """Output column names for ``params``, in output order (stable snake_case)."""
    return (
        f"rsi_{params.rsi_period}",
        *(f"ema_{p}" for p in params.ema_periods),
        *(f"sma_{p}" for p in params.sma_periods),
        "macd", "macd_signal", "macd_hist",
        "bb_upper", "bb_middle", "bb_lower",
        f"atr_{params.atr_period}",
        "vwap",
        "stoch_k", "stoch_d",
    )


INDICATOR_COLUMNS: tuple[str, ...] = indicator_columns(DEFAULT_PARAMS)


def warmup_bars(params: IndicatorParams = DEFAULT_PARAMS) -> int:
    """Index of the first bar at which every indicator has a value (TA-Lib lookbacks).

    Recursive indicators (EMA, RSI, ATR, MACD) keep depending on older bars after this,
    so a partition warmed with only this many prior bars is close to, not equal to, a
    computation over the full history.
    """
    return max(
        params.rsi_period,
        max(params.ema_periods) - 1,
        max(params.sma_periods) - 1,
        params.macd_slow + params.macd_signal - 2,
        params.bb_period - 1,
        params.atr_period,
        params.stoch_fastk + params.stoch_slowk + params.stoch_slowd - 3,
    )


def validate_bars(bars: pd.DataFrame) -> None:
    """Raise SchemaMismatch unless ``bars`` has the columns, order and finite values we need.

    NaN prices are refused rather than passed on: TA-Lib skips leading NaNs but
    propagates inner ones, which the streaming engine could not reproduce.
    """
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise SchemaMismatch(f"bars lack column(s) {missing}")
    if not bars["ts"].is_monotonic_increasing or bars["ts"].duplicated().any():
        raise SchemaMismatch("bars.ts must be strictly increasing (one instrument, one timeframe)")
    values = bars.loc[:, list(PRICE_COLUMNS)].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        bad = [c for c, ok in zip(PRICE_COLUMNS, np.isfinite(values).all(axis=0), strict=True) if not ok]
        raise SchemaMismatch(f"bars have non-finite values in {bad}")


def session_vwap(bars: pd.DataFrame) -> pd.Series:
    """Session-anchored VWAP: cumsum(typical price x volume) / cumsum(volume), reset per trading_date.

    Typical price is (high + low + close) / 3. A new session starts wherever
    ``trading_date`` differs from the previous bar's. NaN while the session's cumulative
    volume is still zero (no trade yet, no price to anchor on).
    """
    typical = (bars["high"] + bars["low"] + bars["close"]) / 3.0
    volume = bars["volume"].astype(np.float64)
    trading_date = bars["trading_date"]
    session = trading_date.ne(trading_date.shift()).cumsum()
    cum_pv = (typical * volume).groupby(session).cumsum().to_numpy()
    cum_v = volume.groupby(session).cumsum().to_numpy()
    vwap = np.divide(cum_pv, cum_v, out=np.full(len(bars), np.nan), where=cum_v > 0.0)
    return pd.Series(vwap, index=bars.index, name="vwap")


def compute_indicators(bars: pd.DataFrame, params: IndicatorParams = DEFAULT_PARAMS) -> pd.DataFrame:
    """All indicators for ``bars`` (one instrument, one timeframe, sorted by ts).

    Returns ``ts`` plus :func:`indicator_columns` ``(params)`` as float64, same index as ``bars``.
    Raises SchemaMismatch on missing columns, unsorted ts or non-finite prices.
    """
    validate_bars(bars)
    columns = indicator_columns(params)

    def arr(name: str) -> np.ndarray:
        return np.ascontiguousarray(bars[name].to_numpy(dtype=np.float64))

    high, low, close = arr("high"), arr("low"), arr("close")
    out: dict[str, np.ndarray] = {f"rsi_{params.rsi_period}": talib.RSI(close, params.rsi_period)}
    for p in params.ema_periods:
        out[f"ema_{p}"] = talib.EMA(close, p)
    for p in params.sma_periods:
        out[f"sma_{p}"] = talib.SMA(close, p)
    out["macd"], out["macd_signal"], out["macd_hist"] = talib.MACD(
        close, params.macd_fast, params.macd_slow, params.macd_signal
    )
    out["bb_upper"], out["bb_middle"], out["bb_lower"] = talib.BBANDS(
        close, params.bb_period, params.bb_nbdev_up, params.bb_nbdev_dn, 0
    )
    out[f"atr_{params.atr_period}"] = talib.ATR(high, low, close, params.atr_period)
    out["vwap"] = session_vwap(bars).to_numpy()
    out["stoch_k"], out["stoch_d"] = talib.STOCH(
        high, low, close, params.stoch_fastk, params.stoch_slowk, 0, params.stoch_slowd, 0
    )
    frame = pd.DataFrame({c: out[c] for c in columns}, index=bars.index)
    frame.insert(0, "ts", bars["ts"])
    return frame
