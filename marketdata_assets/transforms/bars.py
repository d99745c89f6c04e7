"""Bars of one partition for one origin, from what validation kept: pure frames in, frames out.

Shared by both origins: ``sierra`` bars come from the validated trades and from the 1m
bars a file stores, ``provider`` bars from the provider's validated 1m bars. The gap report
judges the union of the origins' 1m bars against the session calendar.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from marketdata_assets.model.sessions import Market
from marketdata_assets.transforms.aggregation import BAR_COLUMNS, bars_from_bars, bars_from_trades
from marketdata_assets.transforms.gaps import find_gaps
from marketdata_assets.transforms.normalize import ts_us


def _bars_of(frame: pd.DataFrame, market: Market, trading_date: date, from_trades: bool) -> pd.DataFrame:
    if not len(frame):
        return pd.DataFrame(columns=BAR_COLUMNS)
    return bars_from_trades(frame, market, trading_date) if from_trades else bars_from_bars(frame, market, trading_date)


def origin_bars(trades: pd.DataFrame | None, bars_in: pd.DataFrame, market: Market,
                trading_date: date) -> pd.DataFrame:
    """All six timeframes of one origin: from its validated ``trades`` (None: the origin has
    none) and its stored 1m ``bars_in``; an origin without input gives no rows."""
    parts = [b for b in (_bars_of(trades, market, trading_date, True) if trades is not None else None,
                         _bars_of(bars_in, market, trading_date, False)) if b is not None and len(b)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=BAR_COLUMNS)


def provenance(*frames: pd.DataFrame) -> str:
    """Provenance of an aggregated bar: the distinct sources (files, provider requests) it was built from."""
    names = sorted({s for f in frames if len(f) for s in f["source"].dropna().unique()})
    return ";".join(names) or "-"


def partition_gaps(bars_by_origin: dict[str, pd.DataFrame], market: Market, trading_date: date,
                   min_missing: int) -> tuple[pd.DataFrame, int]:
    """(gaps of at least ``min_missing`` minutes, all missing open minutes) of the union of the
    origins' 1m bars: a minute counts as covered when any origin has a bar for it."""
    starts = [ts_us(b.loc[b["timeframe"] == "1m", "ts"]) for b in bars_by_origin.values() if len(b)]
    covered = np.unique(np.concatenate(starts)) if starts else np.empty(0, np.int64)
    every = find_gaps(covered, market, trading_date, "1m", 1)
    return every[every["missing_bars"] >= min_missing].reset_index(drop=True), int(every["missing_bars"].sum())
