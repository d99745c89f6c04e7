"""Clean sample partitions and the corruptions injected into copies of them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from marketdata_assets.model.sessions import Market, market_for_instrument
from marketdata_assets.sources.sierra.scid import instrument_from_path, read_scid
from marketdata_assets.testkit.sierra_sample import write_sample_data
from marketdata_assets.transforms.normalize import raw_frame, split_raw

TICK_INSTRUMENTS = ("ESH24", "NQH24-CME", "CLJ24", "EURUSD")
BAR_INSTRUMENT = "GCJ24_FUT_COMEX"
DAY = date(2024, 3, 8)


def load_sample(out_dir: Path) -> dict[str, tuple[Market, pd.DataFrame, pd.DataFrame]]:
    """instrument → (market, tick candidates, bar candidates) over every sample date."""
    out = {}
    for path in write_sample_data(out_dir):
        inst = instrument_from_path(path)
        market = market_for_instrument(inst)
        ticks, bars = split_raw(raw_frame(read_scid(path).records, inst, market, "sierra", "test-run"))
        out[inst] = (market, ticks, bars)
    return out


def partition(frame: pd.DataFrame, day: date) -> pd.DataFrame:
    return frame[frame["trading_date"] == pd.Timestamp(day)].reset_index(drop=True)


def trade_positions(ticks: pd.DataFrame) -> np.ndarray:
    return np.flatnonzero(ticks["kind"].to_numpy() == "trade")


def spread_out(positions: np.ndarray, k: int, start: int = 100) -> np.ndarray:
    """``k`` positions far apart from each other (and from both ends)."""
    return positions[np.linspace(start, len(positions) - start, k).astype(int)]


def shift_from(frame: pd.DataFrame, row: int, amount: float, cols) -> pd.DataFrame:
    out = frame.copy()
    for c in cols:
        out.loc[row:, c] = out.loc[row:, c] + amount
    return out


def insert_duplicates(frame: pd.DataFrame, rows) -> pd.DataFrame:
    """A copy of each row right after it (same file offset: the record was written twice)."""
    parts, prev = [], 0
    for r in sorted(rows):
        parts += [frame.iloc[prev:r + 1], frame.iloc[[r]]]
        prev = r + 1
    parts.append(frame.iloc[prev:])
    return pd.concat(parts, ignore_index=True)


def swap_ts(frame: pd.DataFrame, rows) -> pd.DataFrame:
    """Swap the timestamps of rows r and r+1: the record at r+1 goes back in time."""
    out = frame.copy()
    ts = out["ts"].to_numpy().copy()
    for r in rows:
        ts[r], ts[r + 1] = ts[r + 1], ts[r]
    out["ts"] = pd.to_datetime(ts, utc=True)
    return out


def corrupt_ticks(ticks: pd.DataFrame) -> pd.DataFrame:
    """Every tick corruption at once, each on its own rows."""
    trade = np.flatnonzero(ticks["kind"].to_numpy() == "trade")
    quote = np.flatnonzero(ticks["kind"].to_numpy() == "quote")
    t = spread_out(trade, 12)
    q = spread_out(quote, 6)
    out = ticks.copy()
    out["kind"] = out["kind"].astype(object)
    out.loc[t[0], "price"] = np.nan
    out.loc[t[1], "price"] = -5150.0
    out.loc[t[2], "price"] = np.inf
    out.loc[t[3], "price"] += 0.1                       # off grid
    out.loc[t[4], "size"] = -3
    out.loc[t[5], "aggressor"] = 0                   # aggressor unknown
    out.loc[t[6], "trading_date"] = pd.Timestamp("2024-03-11")
    out.loc[t[7], ["bid", "ask"]] = out.loc[t[7], ["ask", "bid"]].to_numpy()
    out.loc[q[0], "bid"] = np.inf
    out.loc[q[1], "ask"] = -1.0
    out.loc[q[2], "kind"] = None
    out.loc[q[3], "ask"] = 0.0                          # one-sided book: not crossed, not an error
    out.loc[q[4], "bid"] -= 0.05                        # off grid
    halt = pd.Timestamp("2024-03-08 16:30", tz="America/Chicago").tz_convert("UTC")
    out.loc[len(out) - 1, "ts"] = halt
    out = swap_ts(out, [t[8], t[10]])
    return insert_duplicates(out, [t[9], q[5]])


def corrupt_bars(bars: pd.DataFrame) -> pd.DataFrame:
    r = spread_out(np.arange(len(bars)), 12)
    out = bars.copy()
    out.loc[r[0], "close"] = np.nan
    out.loc[r[1], "open"] = -1.0
    out.loc[r[2], "high"] = out.loc[r[2], "low"] - 0.5
    out.loc[r[3], "low"] = out.loc[r[3], "high"] + 0.3
    out.loc[r[4], "high"] = np.inf
    out.loc[r[5], "volume"] = -1
    out.loc[r[6], "volume"] = 0
    out.loc[r[7], "close"] += 0.05
    out.loc[r[8], "trading_date"] = pd.NaT
    out.loc[r[8] + 1, "trading_date"] = pd.Timestamp("2024-03-07")
    out.loc[len(out) - 1, "ts"] = pd.Timestamp("2024-03-08 16:05", tz="America/Chicago").tz_convert("UTC")
    out = swap_ts(out, [r[9]])
    return insert_duplicates(out, [r[10], r[11]])
