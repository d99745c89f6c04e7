"""OHLCV bars from ticks or from finer bars. Pure and vectorized (sort once, ``reduceat``).

Intraday bars (1m, 5m, 15m, 1h, 4h) are fixed durations counted from the session open of
the trading date, in UTC: a DST change can neither shift nor duplicate them, and a 4h bar
always starts at the open. ``1d`` is the session bar: it starts at the session open and
holds every trade of the trading date. ``ts`` is the bar start.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from marketdata_assets.model import aggressor
from marketdata_assets.model.sessions import Market
from marketdata_assets.model.timeframes import TIMEFRAME_US, TIMEFRAMES

BAR_COLUMNS = ["timeframe", "ts", "open", "high", "low", "close", "volume", "num_trades",
               "bid_volume", "ask_volume", "vwap"]


def bucket_runs(ts: np.ndarray, anchor: int, timeframe: str) -> tuple[np.ndarray, np.ndarray]:
    """(first position, bar start) of each non-empty bar of sorted ``ts``: the bar edges
    between the first and the last timestamp located by one ``searchsorted`` (a day has at
    most 1,440 of them), instead of a bar start computed and compared per tick; per tick
    when the span holds more bars than there are ticks."""
    if timeframe == "1d":
        return np.zeros(1, np.int64), np.array([anchor], np.int64)
    step = TIMEFRAME_US[timeframe]
    first = anchor + (int(ts[0]) - anchor) // step * step
    if (int(ts[-1]) - first) // step + 1 > len(ts):
        keys = anchor + np.floor_divide(ts - anchor, step) * step
        starts = np.r_[0, np.flatnonzero(np.diff(keys)) + 1]
        return starts, keys[starts]
    edges = np.arange(first, int(ts[-1]) + 1, step, dtype=np.int64)
    pos = np.searchsorted(ts, edges, side="left")
    filled = pos < np.r_[pos[1:], len(ts)]
    return pos[filled], edges[filled]


def _reduce(starts: np.ndarray, keys: np.ndarray, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Aggregate the runs beginning at ``starts`` (input sorted by time; ``keys``: their bar starts)."""
    ends = np.r_[starts[1:], len(cols["open"])] - 1
    volume = np.add.reduceat(cols["volume"], starts)
    pv = np.add.reduceat(cols["pv"], starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(volume > 0, pv / volume, np.nan)
    return {
        "ts": keys,
        "open": cols["open"][starts],
        "high": np.maximum.reduceat(cols["high"], starts),
        "low": np.minimum.reduceat(cols["low"], starts),
        "close": cols["close"][ends],
        "volume": volume,
        "num_trades": np.add.reduceat(cols["num_trades"], starts),
        "bid_volume": np.add.reduceat(cols["bid_volume"], starts),
        "ask_volume": np.add.reduceat(cols["ask_volume"], starts),
        "vwap": vwap if cols.get("has_vwap", True) else np.full(len(starts), np.nan),
    }


def _bars(ts: np.ndarray, cols: dict, anchor: int, timeframes) -> pd.DataFrame:
    if len(ts) == 0:
        return pd.DataFrame(columns=BAR_COLUMNS)
    if len(ts) > 1 and not (ts[1:] >= ts[:-1]).all():
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        cols = {k: (v[order] if isinstance(v, np.ndarray) else v) for k, v in cols.items()}
    frames = []
    for tf in timeframes:
        out = _reduce(*bucket_runs(ts, anchor, tf), cols)
        frame = pd.DataFrame(out)
        frame.insert(0, "timeframe", tf)
        frames.append(frame)
    bars = pd.concat(frames, ignore_index=True)
    bars["ts"] = pd.to_datetime(bars["ts"], unit="us", utc=True).dt.as_unit("us")
    return bars[BAR_COLUMNS]


def _us(ts: pd.Series) -> np.ndarray:
    """Unix µs of a UTC timestamp column, without a copy when it is stored in µs already."""
    values = ts.array
    return values.asi8 if getattr(values, "unit", None) == "us" else values.as_unit("us").asi8


def bars_from_trades(trades: pd.DataFrame, market: Market, trading_date: date,
                     timeframes=TIMEFRAMES) -> pd.DataFrame:
    """Bars of one trading date from trade ticks (``price``, ``size``, ``aggressor`` codes, ``num_trades``)."""
    ts = _us(trades["ts"]) if len(trades) else np.empty(0, np.int64)
    price = trades["price"].to_numpy(dtype=np.float64)
    size = trades["size"].to_numpy(dtype=np.float64)
    side = trades["aggressor"].to_numpy()
    cols = {
        "open": price, "high": price, "low": price, "close": price, "volume": size, "pv": price * size,
        "num_trades": trades["num_trades"].to_numpy(dtype=np.int64),
        "bid_volume": np.where(side == aggressor.SELL, size, 0.0),
        "ask_volume": np.where(side == aggressor.BUY, size, 0.0),
    }
    return _bars(ts, cols, market.session_open_us(trading_date), timeframes)


def bars_from_bars(base: pd.DataFrame, market: Market, trading_date: date,
                   timeframes=TIMEFRAMES) -> pd.DataFrame:
    """Bars of one trading date from finer bars (a Sierra bar file, provider 1m bars).

    VWAP is unknown from bars alone and is left NULL rather than approximated.
    """
    ts = _us(base["ts"]) if len(base) else np.empty(0, np.int64)
    volume = base["volume"].to_numpy(dtype=np.float64)
    cols = {k: base[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close")}
    cols.update({
        "volume": volume, "pv": np.zeros(len(ts)), "has_vwap": False,
        "num_trades": base["num_trades"].fillna(0).to_numpy(dtype=np.int64) if "num_trades" in base
        else np.zeros(len(ts), np.int64),
        "bid_volume": base["bid_volume"].fillna(0).to_numpy(dtype=np.float64) if "bid_volume" in base
        else np.zeros(len(ts)),
        "ask_volume": base["ask_volume"].fillna(0).to_numpy(dtype=np.float64) if "ask_volume" in base
        else np.zeros(len(ts)),
    })
    return _bars(ts, cols, market.session_open_us(trading_date), timeframes)
