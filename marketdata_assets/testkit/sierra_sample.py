"""Realistic synthetic ``.scid`` files for the demo, the tests and the benchmarks (test kit:
production code writes ``.scid`` with ``sources.sierra.scid_writer``, re-exported here).

Each instrument gets tick-by-tick records over several trading days of its market
(including the 2024-03-10 US DST change): trades at the bid or ask on the instrument's
tick grid, bursts of trades within one millisecond stamped +1 µs apart, unbundled trades
split into first/last sub-trade markers, and bid/ask-only updates. One instrument stores
1-minute bars instead of ticks, as Sierra Chart does for non-tick charts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from marketdata_assets.model.sessions import Market, market_for_instrument
from marketdata_assets.sources.sierra.scid import FIRST_SUB_TRADE, LAST_SUB_TRADE, RECORD_DTYPE, SC_EPOCH_US
from marketdata_assets.sources.sierra.scid_writer import header_bytes, write_scid

__all__ = ["SAMPLE_DATES", "SAMPLE_INSTRUMENTS", "SampleInstrument", "bar_records", "header_bytes",
           "session_timestamps", "tick_records", "unique_microseconds", "write_sample_data", "write_scid"]

SAMPLE_DATES = (date(2024, 3, 7), date(2024, 3, 8), date(2024, 3, 11), date(2024, 3, 12))


@dataclass(frozen=True)
class SampleInstrument:
    name: str
    price: float
    tick: float
    trades_per_day: int
    bars: bool = False


SAMPLE_INSTRUMENTS = (
    SampleInstrument("ESH24", 5150.0, 0.25, 4000),
    SampleInstrument("NQH24-CME", 18000.0, 0.25, 3000),
    SampleInstrument("CLJ24", 78.5, 0.01, 2500),
    SampleInstrument("EURUSD", 1.09, 0.00005, 2500),
    SampleInstrument("GCJ24_FUT_COMEX", 2150.0, 0.1, 0, bars=True),
)


def unique_microseconds(ms: np.ndarray) -> np.ndarray:
    """Sierra's rule: the k-th record within one millisecond gets +k µs (input sorted)."""
    ms = np.asarray(ms, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(ms)) + 1]
    rank = np.arange(len(ms)) - np.repeat(starts, np.diff(np.r_[starts, len(ms)]))
    return ms * 1000 + rank


def tick_records(rng: np.random.Generator, ts_us: np.ndarray, price0: float, tick: float,
                 quote_share: float = 0.3) -> tuple[np.ndarray, float]:
    """Trades and bid/ask updates at the given (sorted, unique) timestamps."""
    n = len(ts_us)
    steps = rng.choice([-1, 0, 0, 1], size=n)
    mid_ticks = np.round(price0 / tick) + np.cumsum(steps)
    bid = mid_ticks * tick
    ask = bid + tick
    is_quote = rng.random(n) < quote_share
    buy = rng.random(n) < 0.5
    size = rng.integers(1, 12, size=n)
    rec = np.zeros(n, dtype=RECORD_DTYPE)
    rec["dt"] = ts_us + SC_EPOCH_US
    rec["high"], rec["low"] = ask, bid
    trade = ~is_quote
    rec["close"] = np.where(trade, np.where(buy, ask, bid), 0.0)
    rec["num_trades"] = trade.astype(np.uint32)
    rec["total_volume"] = np.where(trade, size, 0)
    rec["ask_volume"] = np.where(trade & buy, size, 0)
    rec["bid_volume"] = np.where(trade & ~buy, size, 0)
    # unbundled trades: a run of same-side trades in one millisecond → first/last sub-trade markers
    same_ms = np.r_[False, (ts_us[1:] // 1000) == (ts_us[:-1] // 1000)] & trade
    run_start = trade & ~same_ms & np.r_[same_ms[1:], False]
    run_end = same_ms & ~np.r_[same_ms[1:], False]
    rec["open"][run_start] = FIRST_SUB_TRADE
    rec["open"][run_end] = LAST_SUB_TRADE
    return rec, float(bid[-1]) if n else price0


def session_timestamps(rng: np.random.Generator, market: Market, day: date, n: int,
                       burst_share: float = 0.08) -> np.ndarray:
    """``n`` sorted unique µs timestamps inside the sessions of ``day``, with 1-ms bursts."""
    bounds = market.session_bounds_us(day)
    if not bounds or n == 0:
        return np.empty(0, dtype=np.int64)
    lengths = np.array([hi - lo for lo, hi in bounds], dtype=np.float64)
    which = rng.choice(len(bounds), size=n, p=lengths / lengths.sum())
    lo = np.array([b[0] for b in bounds])[which]
    hi = np.array([b[1] for b in bounds])[which]
    ms = (lo + (rng.random(n) * (hi - lo - 1000)).astype(np.int64)) // 1000
    bursts = int(n * burst_share)
    if bursts:  # copy some timestamps onto their neighbour's millisecond
        idx = rng.choice(n - 1, size=bursts, replace=False)
        ms = np.sort(ms)
        ms[idx + 1] = ms[idx]
    return unique_microseconds(np.sort(ms))


def bar_records(rng: np.random.Generator, market: Market, day: date, price0: float, tick: float) -> tuple[np.ndarray, float]:
    """One-minute bars over every open minute of ``day``."""
    starts = market.open_minutes_us(day)
    n = len(starts)
    close = (np.round(price0 / tick) + np.cumsum(rng.choice([-2, -1, 0, 1, 2], size=n))) * tick
    open_ = np.r_[price0, close[:-1]] if n else close
    spread = rng.integers(0, 4, size=n) * tick
    rec = np.zeros(n, dtype=RECORD_DTYPE)
    rec["dt"] = starts + SC_EPOCH_US
    rec["open"], rec["close"] = open_, close
    rec["high"] = np.maximum(open_, close) + spread
    rec["low"] = np.minimum(open_, close) - spread
    vol = rng.integers(5, 200, size=n)
    rec["total_volume"], rec["num_trades"] = vol, np.maximum(1, vol // 3)
    rec["bid_volume"] = vol // 2
    rec["ask_volume"] = vol - vol // 2
    return rec, float(close[-1]) if n else price0


def write_sample_data(out_dir: str | Path, seed: int = 7, days: tuple[date, ...] = SAMPLE_DATES,
                      instruments: tuple[SampleInstrument, ...] = SAMPLE_INSTRUMENTS) -> list[Path]:
    """Write one ``.scid`` per instrument covering ``days``; returns the paths."""
    rng = np.random.default_rng(seed)
    paths = []
    for inst in instruments:
        market = market_for_instrument(inst.name)
        price = inst.price
        chunks = []
        for day in days:
            if inst.bars:
                rec, price = bar_records(rng, market, day, price, inst.tick)
            else:
                ts = session_timestamps(rng, market, day, inst.trades_per_day)
                rec, price = tick_records(rng, ts, price, inst.tick)
            chunks.append(rec)
        paths.append(write_scid(Path(out_dir) / f"{inst.name}.scid", np.concatenate(chunks)))
    return paths
