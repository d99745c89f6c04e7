"""Indicators of a partition, warmed up from the bars of the partitions before it."""

from __future__ import annotations

from datetime import date

import pandas as pd

from marketdata_assets.storage.warehouse import Warehouse, partition_scope
from marketdata_assets.transforms.indicators import INDICATOR_COLUMNS, compute_indicators

# Bars of history computed before a partition's first bar. EMA/RSI/ATR/MACD depend on all
# earlier bars; after 1000 bars the seed's influence is below 1e-30 for the default periods,
# so the partition's values equal a continuous computation (tested within 1e-9).
WARMUP_BARS = 1000
BAR_FIELDS = ["ts", "trading_date", "open", "high", "low", "close", "volume"]


def history(wh: Warehouse, instrument: str, timeframe: str, origin: str, before: date, bars: int) -> pd.DataFrame:
    """At least ``bars`` bars (when stored) of the trading dates just before ``before``."""
    counts = wh.partition_counts("ohlc_bars", {"instrument": instrument, "timeframe": timeframe, "origin": origin},
                                 dates=(None, str(before)))[::-1]   # hot and cold, newest date first
    if counts.empty:
        return pd.DataFrame(columns=BAR_FIELDS)
    running = counts["n"].astype(int).cumsum()
    first = counts["trading_date"].iloc[min(int((running < bars).sum()), len(counts) - 1)]
    hist = wh.read("ohlc_bars", {"instrument": instrument, "timeframe": timeframe, "origin": origin},
                   columns=BAR_FIELDS, order_by=("ts",), dates=(str(first)[:10], str(before)))
    return hist.tail(bars)


def build_indicators(wh: Warehouse, instrument: str, trading_date: date, run_id: str) -> dict[str, int]:
    """Indicators of every timeframe and origin of the partition → ``indicators`` (replaced)."""
    scope = partition_scope(instrument, trading_date)
    bars = wh.read("ohlc_bars", scope, columns=["timeframe", "origin", *BAR_FIELDS], order_by=("ts",))
    frames, counts = [], {}
    for (timeframe, origin), today in bars.groupby(["timeframe", "origin"], sort=True):
        past = history(wh, instrument, timeframe, origin, trading_date, WARMUP_BARS)
        series = pd.concat([past, today[BAR_FIELDS]], ignore_index=True) if len(past) else today[BAR_FIELDS]
        values = compute_indicators(series.reset_index(drop=True)).iloc[len(past):]
        frames.append(values.assign(instrument=instrument, timeframe=timeframe, origin=origin,
                                    trading_date=str(trading_date), run_id=run_id))
        counts[f"{origin}:{timeframe}"] = len(values)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["ts", *INDICATOR_COLUMNS])
    wh.replace_partition("indicators", out, scope)
    return counts
