"""Missing bars versus the session calendar. Pure and vectorized.

The expected bars of a trading date are the bar starts covering the minutes during which
the market is open (:meth:`Market.open_minutes_us`): holidays, weekends and scheduled
halts (the CME 16:00–17:00 CT daily halt lies between two trading dates) are never
expected, so they are never gaps. A gap is a run of consecutive expected bars with no
observed bar; runs are split where the expected sequence itself jumps (a break between
sessions). ``gap_start`` is the start of the first missing bar, ``gap_end`` the end
(exclusive) of the last one, both UTC. A thin market legitimately has minutes without a
trade, so ``min_missing`` lets callers report only runs of at least that many bars.
Observed bars outside the expected set are ignored here (``outside_session`` reports them).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from marketdata_assets.model.sessions import Market
from marketdata_assets.model.timeframes import TIMEFRAME_US

GAP_COLUMNS = ["gap_start", "gap_end", "missing_bars"]


def expected_bar_starts(market: Market, trading_date: date | str, timeframe: str = "1m") -> np.ndarray:
    """Start (UTC µs) of every intraday bar of ``timeframe`` that has an open minute,
    counted from the session open as :mod:`aggregation` does."""
    day = trading_date if isinstance(trading_date, date) else date.fromisoformat(str(trading_date))
    if timeframe not in TIMEFRAME_US:
        raise ValueError(f"gaps are defined for intraday timeframes {sorted(TIMEFRAME_US)}, not {timeframe!r}")
    minutes = market.open_minutes_us(day)
    if timeframe == "1m" or not len(minutes):
        return minutes
    step = TIMEFRAME_US[timeframe]
    anchor = market.session_open_us(day)
    return np.unique(anchor + np.floor_divide(minutes - anchor, step) * step)


def find_gaps(bars_ts_us: np.ndarray, market: Market, trading_date: date | str, timeframe: str = "1m",
              min_missing: int = 1) -> pd.DataFrame:
    """Runs of missing bars (``gap_start``, ``gap_end``, ``missing_bars``) of one trading date."""
    if min_missing < 1:
        raise ValueError("min_missing must be >= 1")
    expected = expected_bar_starts(market, trading_date, timeframe)
    step = TIMEFRAME_US[timeframe]
    missing = ~np.isin(expected, np.asarray(bars_ts_us, dtype=np.int64))
    if not missing.any():
        return _frame(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64))
    idx = np.flatnonzero(missing)
    starts_ts = expected[idx]
    # a new run where the previous missing bar is not the previous expected bar, or time jumps
    new = np.r_[True, (np.diff(idx) != 1) | (np.diff(starts_ts) != step)]
    first = np.flatnonzero(new)
    last = np.r_[first[1:], len(idx)] - 1
    count = last - first + 1
    keep = count >= min_missing
    return _frame(starts_ts[first][keep], starts_ts[last][keep] + step, count[keep])


def _frame(start: np.ndarray, end: np.ndarray, count: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "gap_start": pd.to_datetime(start, unit="us", utc=True).as_unit("us"),
        "gap_end": pd.to_datetime(end, unit="us", utc=True).as_unit("us"),
        "missing_bars": count.astype(np.int64),
    }, columns=GAP_COLUMNS)
