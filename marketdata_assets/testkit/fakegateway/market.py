"""Deterministic market data for the fake gateway: 1m bars and the trades inside them.

Minute bars come from the fake providers' generator (a seeded walk per instrument and UTC
day, only while the instrument's market is open: CME sessions, no weekends), snapped to
the contract's tick grid. Each minute's trades are drawn from that minute's bar, so they
aggregate back to it exactly: the first trade at the open, the last at the close, one at
the high and one at the low, sizes summing to the volume. Second bars, hour/day bars and
the hub's trades are all built from these, so REST and hub agree.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import lru_cache

import numpy as np
import pandas as pd

from marketdata_assets.testkit.fakegateway.catalog import Contract
from marketdata_assets.testkit.fakeproviders.generator import Profile, minute_bars

UNITS = {1: "s", 2: "min", 3: "h", 4: "D", 5: "W", 6: "MS"}  # gateway unit → pandas frequency
MAX_TRADES_PER_MINUTE = 12


def _profile(contract: Contract) -> Profile:
    return Profile(contract.instrument, "index", contract.base_price, "America/Chicago")


def _snap(values: np.ndarray, tick: float) -> np.ndarray:
    return np.round(values / tick) * tick


def minutes(contract: Contract, start: datetime, end: datetime) -> pd.DataFrame:
    """1m bars starting in ``[start, end)``: ts (UTC) and open high low close volume."""
    epochs, values = minute_bars(_profile(contract), start, end)
    prices = _snap(values[:, :4], contract.tick_size) if len(values) else np.zeros((0, 4))
    frame = pd.DataFrame(prices, columns=["open", "high", "low", "close"])
    frame["volume"] = values[:, 4] if len(values) else np.zeros(0)
    frame.insert(0, "ts", pd.to_datetime(epochs, unit="s", utc=True))
    return frame


def _seed(contract: Contract, epoch: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{contract.id}|{epoch}".encode()).digest()[:8], "little")


@lru_cache(maxsize=4096)
def minute_trades(contract: Contract, epoch: int, o: float, h: float, low: float, c: float,
                  v: int) -> tuple[tuple[int, float, int, int], ...]:
    """The trades of one minute bar: (unix µs, price, size, type 0 buy / 1 sell), in time order."""
    if v <= 0:
        return ()
    rng = np.random.default_rng(_seed(contract, epoch))
    n = int(min(v, 4 + rng.integers(0, MAX_TRADES_PER_MINUTE - 3)))
    offsets = np.sort(rng.choice(59_000_000, size=n, replace=False))  # µs inside the minute
    ticks = max(0, int(round((h - low) / contract.tick_size)))
    prices = low + rng.integers(0, ticks + 1, size=n) * contract.tick_size
    prices[0], prices[-1] = o, c
    if n >= 4:
        inner = rng.permutation(np.arange(1, n - 1))[:2]
        prices[inner[0]], prices[inner[1]] = h, low
    else:  # too few trades to hit every price: put the extremes on the open/close
        prices[0], prices[-1] = (h, low) if o >= c else (low, h)
    weights = rng.random(n) + 0.1
    sizes = np.maximum(1, np.floor(weights / weights.sum() * v)).astype(int)
    sizes[-1] += v - sizes.sum()
    if sizes[-1] < 1:  # rounding took too much: rebuild as ones plus remainder
        sizes = np.ones(n, dtype=int)
        sizes[0] += v - n
    sides = rng.integers(0, 2, size=n)
    base = epoch * 1_000_000
    return tuple((base + int(off), float(p), int(s), int(t))
                 for off, p, s, t in zip(offsets, prices, sizes, sides, strict=True))


def trades(contract: Contract, start: datetime, end: datetime) -> pd.DataFrame:
    """Every trade whose minute starts in ``[start, end)``: ts_us, price, size, type."""
    bars = minutes(contract, start, end)
    rows = []
    for ts, o, h, low, c, v in bars.itertuples(index=False):
        rows.extend(minute_trades(contract, int(ts.timestamp()), o, h, low, c, int(v)))
    return pd.DataFrame(rows, columns=["ts_us", "price", "size", "type"])


def bars(contract: Contract, start: datetime, end: datetime, unit: int, unit_number: int) -> pd.DataFrame:
    """Bars of ``unit_number`` × ``unit`` whose start lies in ``[start, end]`` (end inclusive, as
    the gateway treats ``endTime``), ascending."""
    if unit not in UNITS:
        raise ValueError(f"unit must be 1 (second) .. 6 (month), got {unit}")
    if unit_number < 1:
        raise ValueError(f"unitNumber must be >= 1, got {unit_number}")
    stop = pd.Timestamp(end) + pd.Timedelta(microseconds=1)
    if unit == 1:
        tr = trades(contract, start.replace(second=0, microsecond=0), stop.to_pydatetime())
        frame = pd.DataFrame({"ts": pd.to_datetime(tr["ts_us"], unit="us", utc=True), "price": tr["price"],
                              "size": tr["size"].astype(float)})
        grouped = frame.set_index("ts").resample(f"{unit_number}s")
        out = grouped["price"].ohlc().join(grouped["size"].sum().rename("volume")).dropna().reset_index()
    else:
        minute = minutes(contract, _floor(start, unit), stop.to_pydatetime())
        if unit == 2 and unit_number == 1:
            out = minute
        else:
            freq = f"{unit_number}{UNITS[unit]}"
            g = minute.set_index("ts").resample(freq, label="left", closed="left")
            out = pd.concat([g["open"].first(), g["high"].max(), g["low"].min(), g["close"].last(),
                             g["volume"].sum()], axis=1).dropna().reset_index()
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    return out[(out["ts"] >= lo) & (out["ts"] <= hi)].reset_index(drop=True)


def _floor(moment: datetime, unit: int) -> datetime:
    moment = moment.astimezone(UTC)
    if unit <= 2:
        return moment.replace(second=0, microsecond=0)
    if unit == 3:
        return moment.replace(minute=0, second=0, microsecond=0)
    if unit == 6:
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0) - pd.Timedelta(days=7 if unit == 5 else 0)
