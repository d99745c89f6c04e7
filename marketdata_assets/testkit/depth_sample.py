"""Realistic sample ``.depth`` files, consistent with the sample ``.scid`` quotes and trades.

For every trade or bid/ask update of an instrument's ``.scid`` file, one depth batch moves a
ladder of ``levels`` price levels per side so that its best bid and ask are the record's
bid and ask at the same instant: levels that left the ladder are deleted, new ones added,
and one remaining level changes size (a modify). Each UTC-day file starts with a full
snapshot (clear book, bid adds, ask adds, end of batch) and repeats one every
``snapshot_minutes``, as Sierra Chart does. Files go to ``<depth_dir>/<symbol>.<day>.depth``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from marketdata_assets.model.contracts import tick_size_for
from marketdata_assets.sources.sierra.depth_writer import depth_records, write_depth
from marketdata_assets.sources.sierra.scid import KIND_QUOTE, KIND_TRADE, SC_EPOCH_US, read_scid

SAMPLE_DEPTH_INSTRUMENTS = ("ESH24", "NQH24-CME")
DAY_US = 86_400_000_000


class _Ladder:
    """The sample book in integer ticks; emits the records that move it."""

    def __init__(self, rng: np.random.Generator, levels: int):
        self.rng, self.levels = rng, levels
        self.book: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self.rows: list[tuple[int, int, int, int, int]] = []   # ts, command, ticks, quantity, orders

    def _size(self) -> tuple[int, int]:
        q = int(self.rng.integers(1, 60))
        return q, max(1, q // int(self.rng.integers(2, 6)))

    def snapshot(self, ts: int, bid: int, ask: int) -> None:
        self.rows.append((ts, 1, 0, 0, 0))
        self.book = ({}, {})
        for side, prices in ((0, range(bid, bid - self.levels, -1)), (1, range(ask, ask + self.levels))):
            for p in prices:
                q, o = self._size()
                self.book[side][p] = q
                self.rows.append((ts, 2 + side, p, q, o))
        self._close()

    def move(self, ts: int, bid: int, ask: int) -> None:
        start = len(self.rows)
        wanted = (set(range(bid, bid - self.levels, -1)), set(range(ask, ask + self.levels)))
        for side in (0, 1):
            for p in sorted(set(self.book[side]) - wanted[side]):
                del self.book[side][p]
                self.rows.append((ts, 6 + side, p, 0, 0))
        for side in (0, 1):
            for p in sorted(wanted[side] - set(self.book[side])):
                q, o = self._size()
                self.book[side][p] = q
                self.rows.append((ts, 2 + side, p, q, o))
        side = int(self.rng.integers(0, 2))
        p = bid if side == 0 else ask
        q, o = self._size()
        self.book[side][p] = q
        self.rows.append((ts, 4 + side, p, q, o))
        if len(self.rows) > start:
            self._close()

    def _close(self) -> None:
        ts, c, p, q, o = self.rows[-1]
        self.rows[-1] = (ts, c | 0x100, p, q, o)   # bit 8 marks the end of batch until written


def depth_rows(ts: np.ndarray, bid: np.ndarray, ask: np.ndarray, tick: float, rng: np.random.Generator,
               levels: int = 10, snapshot_minutes: int = 10) -> np.ndarray:
    """Structured depth records following the quotes (``ts`` sorted, µs)."""
    ladder = _Ladder(rng, levels)
    bid_t, ask_t = np.round(bid / tick).astype(np.int64), np.round(ask / tick).astype(np.int64)
    day, last_snapshot = None, None
    for t, b, a in zip(ts.tolist(), bid_t.tolist(), ask_t.tolist(), strict=True):
        if t // DAY_US != day or t - last_snapshot >= snapshot_minutes * 60_000_000:
            ladder.snapshot(t, b, a)
            day, last_snapshot = t // DAY_US, t
        else:
            ladder.move(t, b, a)
    if not ladder.rows:
        return depth_records([], [], [], [], [])
    t, c, p, q, o = (np.array(col, dtype=np.int64) for col in zip(*ladder.rows, strict=True))
    return depth_records(t, c & 0xFF, (c >> 8) & 1, (p * tick).astype(np.float32), q, o)


def write_sample_depth(scid_dir: str | Path, depth_dir: str | Path, seed: int = 7,
                       instruments: tuple[str, ...] = SAMPLE_DEPTH_INSTRUMENTS) -> list[Path]:
    """One ``.depth`` file per instrument and UTC day of its ``.scid`` quotes; returns the paths."""
    rng = np.random.default_rng(seed)
    paths = []
    for name in instruments:
        rec = read_scid(Path(scid_dir) / f"{name}.scid").records
        rec = rec[rec["kind"].isin([KIND_TRADE, KIND_QUOTE]) & (rec["low"] > 0) & (rec["high"] > 0)]
        ts = rec["ts"].dt.as_unit("us").astype("int64").to_numpy()
        rows = depth_rows(ts, rec["low"].to_numpy(np.float64), rec["high"].to_numpy(np.float64),
                          tick_size_for(name), rng)
        day_of = (rows["dt"] - SC_EPOCH_US) // DAY_US
        for d in np.unique(day_of):
            day = np.datetime64(int(d), "D").astype(str)
            paths.append(write_depth(Path(depth_dir) / f"{name}.{day}.depth", rows[day_of == d]))
    return paths

