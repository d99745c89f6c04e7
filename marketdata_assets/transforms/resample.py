"""Bars of any intraday timeframe (``3m``, ``30m``, ``2h`` …) from stored 1m bars, for the read
API. Same rule as the stored timeframes (``transforms/aggregation.py``): fixed durations
counted from the session open of each trading date, ``ts`` = bar start; VWAP is the
volume-weighted mean of the 1m VWAPs (NULL where they are)."""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

_SPEC = re.compile(r"([1-9][0-9]{0,3})([mh])")


def step_us(timeframe: str) -> int | None:
    """Microseconds of an ``<n>m`` / ``<n>h`` timeframe (n ≤ 9999, at most one day), else None."""
    match = _SPEC.fullmatch(timeframe)
    if not match:
        return None
    minutes = int(match.group(1)) * (60 if match.group(2) == "h" else 1)
    return minutes * 60_000_000 if minutes <= 1440 else None


def resample_bars(bars: pd.DataFrame, timeframe: str, session_open_us: Mapping[tuple[str, str], int]) -> pd.DataFrame:
    """``bars``: 1m rows of ``ohlc_bars`` sorted by ts; ``session_open_us``: (instrument,
    trading_date) → session open in Unix µs. Returns ``ohlc_bars`` columns, sorted by ts."""
    step = step_us(timeframe)
    if step is None:
        raise ValueError(f"timeframe {timeframe!r} is not <n>m or <n>h")
    if bars.empty:
        return bars.assign(timeframe=timeframe)
    ts = bars["ts"].dt.as_unit("us").astype("int64").to_numpy()
    anchor = np.array([session_open_us[(i, d)] for i, d in zip(bars["instrument"], bars["trading_date"], strict=True)],
                      dtype=np.int64)
    work = bars.assign(bucket=anchor + np.floor_divide(ts - anchor, step) * step,
                       pv=bars["vwap"].to_numpy(dtype=np.float64) * bars["volume"].to_numpy(dtype=np.float64),
                       pv_volume=np.where(bars["vwap"].notna(), bars["volume"], 0.0))
    grouped = work.groupby(["instrument", "origin", "trading_date", "bucket"], sort=False)
    out = grouped.agg(open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"),
                      volume=("volume", "sum"), num_trades=("num_trades", "sum"), bid_volume=("bid_volume", "sum"),
                      ask_volume=("ask_volume", "sum"), pv=("pv", "sum"), pv_volume=("pv_volume", "sum"),
                      source=("source", "first"), run_id=("run_id", "last")).reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["vwap"] = np.where(out["pv_volume"] > 0, out["pv"] / out["pv_volume"], np.nan)
    out["ts"] = pd.to_datetime(out.pop("bucket"), unit="us", utc=True).dt.as_unit("us")
    out["timeframe"] = timeframe
    out["source"] = "1m bars"
    return out[list(bars.columns)].sort_values(["ts", "instrument"], kind="stable", ignore_index=True)
