"""Incremental bars for the streaming path, equal to the batch ``bars_from_trades``.

Same rules as :mod:`marketdata_assets.transforms.aggregation`: intraday bars are fixed
durations counted from the session open of the record's trading date, ``1d`` is the session
bar starting at the session open; open first, high max, low min, close last, volume and
trade counts summed, bid volume = sells, ask volume = buys, vwap = Σp·s / Σs (NaN when a
bar holds base-bar records, as ``bars_from_bars`` does).

A bar closes on *data time*: when any record (trade, bid/ask update or base bar) falls in
a later bucket of that timeframe. The close is therefore deterministic and replayable -
the same records always give the same bars, whatever the batch boundaries - which is what
lets a restarted sidecar continue from its persisted state with identical output. A trade
in a bucket older than the current one (out-of-order data) is counted as *late* and left
out of the bars; it is still a tick.

Each batch is handled with numpy: the current bucket of every record is a running maximum
of its bucket keys, and the records of each bucket are reduced with ``reduceat``; only the
(few) buckets of a batch are visited in Python.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, replace
from datetime import date

import numpy as np

from marketdata_assets.model.sessions import Market
from marketdata_assets.model.timeframes import TIMEFRAME_US, TIMEFRAMES

_EPOCH = date(1970, 1, 1)


class SessionClock:
    """Trading date (days since epoch) and session-open anchor of timestamps, cached per date."""

    def __init__(self, market: Market):
        self.market = market
        self._window = (0, -1)
        self._day = 0
        self._anchor = 0
        self._anchors: dict[int, int] = {}

    def anchor_of(self, day: int) -> int:
        anchor = self._anchors.get(day)
        if anchor is None:
            if len(self._anchors) > 64:
                self._anchors.clear()
            anchor = self._anchors[day] = self.market.session_open_us(date.fromordinal(_EPOCH.toordinal() + day))
        return anchor

    @property
    def day(self) -> int:
        """The trading date (days since epoch) last located."""
        return self._day

    def same_day(self, lo: int, hi: int) -> int | None:
        """The session-open anchor when ``[lo, hi]`` lies in the trading date last located, else None."""
        w_lo, w_hi = self._window
        return self._anchor if w_lo <= lo and hi < w_hi else None

    def locate(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(trading days since epoch, session open µs) for each timestamp."""
        lo, hi = self._window
        if len(ts) and ts.min() >= lo and ts.max() < hi:
            return np.full(len(ts), self._day, np.int64), np.full(len(ts), self._anchor, np.int64)
        days = self.market.trading_dates(ts).astype(np.int64)
        uniq = np.unique(days)
        anchors = np.empty(len(ts), np.int64)
        for d in uniq:
            anchors[days == d] = self.anchor_of(int(d))
        if len(uniq):  # remember the newest date's window: the next batch is most likely in it
            last = int(uniq[-1])
            self._day, self._anchor = last, self.anchor_of(last)
            self._window = self.market.window_us(date.fromordinal(_EPOCH.toordinal() + last))
        return days, anchors


@dataclass
class Bar:
    start: int
    trading_day: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    num_trades: int
    bid_volume: float
    ask_volume: float
    pv: float
    has_vwap: bool

    @property
    def vwap(self) -> float:
        return self.pv / self.volume if self.has_vwap and self.volume > 0 else math.nan

    @property
    def trading_date(self) -> date:
        return date.fromordinal(_EPOCH.toordinal() + self.trading_day)

    def merge(self, o: Bar) -> None:
        self.high = max(self.high, o.high)
        self.low = min(self.low, o.low)
        self.close = o.close
        self.volume += o.volume
        self.num_trades += o.num_trades
        self.bid_volume += o.bid_volume
        self.ask_volume += o.ask_volume
        self.has_vwap = self.has_vwap and o.has_vwap


def _running_sum(start: float, values: np.ndarray) -> float:
    """``start + v0 + v1 + …`` left to right (cumsum is sequential), so Σp·s does not depend
    on where batches were cut."""
    if len(values) <= 64:  # a Python loop beats numpy's call overhead on the few values of a live batch
        for v in values.tolist():
            start += v
        return start
    return float(np.cumsum(np.concatenate(([start], values)))[-1])


_STATE = struct.Struct("<?qqqdddddqddd?")  # has_forming, watermark, bar fields…, has_vwap


@dataclass
class Records:
    """One batch of decoded records, in file order (bar inputs only)."""

    ts: np.ndarray          # int64 µs, every record
    data: np.ndarray        # bool: the record contributes to bars (trade or base bar)
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray      # float64
    num_trades: np.ndarray  # int64
    bid_volume: np.ndarray
    ask_volume: np.ndarray
    pv: np.ndarray          # price × size for trades, 0 for base bars
    vwap_ok: np.ndarray     # bool: False for base-bar records


class _Timeframe:
    __slots__ = ("tf", "step", "watermark", "forming", "anchor")

    def __init__(self, tf: str):
        self.tf = tf
        self.step = TIMEFRAME_US.get(tf)
        self.watermark: int | None = None
        self.forming: Bar | None = None
        self.anchor: int | None = None  # session open the watermark bucket is counted from, when known

    def holds(self, anchor: int | None, lo: int, hi: int) -> bool:
        """Do records of one trading date (``anchor``) within ``[lo, hi]`` all fall in the watermark bucket?"""
        if anchor is None or anchor != self.anchor:
            return False
        if self.step is None:
            return self.watermark == anchor
        return self.watermark <= lo and hi < self.watermark + self.step


class BarBuilder:
    """Forming bars of every timeframe of one instrument; ``update`` returns the bars it closed."""

    def __init__(self, market: Market, timeframes: tuple[str, ...] = TIMEFRAMES):
        self.clock = SessionClock(market)
        self.timeframes = timeframes
        self._tfs = {tf: _Timeframe(tf) for tf in timeframes}
        self.late = 0

    def forming(self, tf: str) -> Bar | None:
        return self._tfs[tf].forming

    def update(self, rec: Records) -> list[tuple[str, Bar]]:
        """Feed a batch; returns closed bars as (timeframe, bar), each timeframe in time order."""
        if len(rec.ts) == 0:
            return []
        ts_list = rec.ts.tolist() if len(rec.ts) <= 64 else None  # a live batch: a few records
        lo, hi = (min(ts_list), max(ts_list)) if ts_list else (int(rec.ts.min()), int(rec.ts.max()))
        day_anchor = self.clock.same_day(lo, hi)
        located = same_days = None
        closed: list[tuple[str, Bar]] = []
        whole: list = []  # the batch's data records as one partial bar, computed at most once
        for st in self._tfs.values():
            if st.holds(day_anchor, lo, hi):  # the common case, decided on two scalars: nothing closes
                if same_days is None:
                    same_days = np.full(len(rec.ts), self.clock.day, np.int64)
                self._same_bucket(st, rec, same_days, whole)
                continue
            if located is None:
                located = self.clock.locate(rec.ts)
                day_anchor = self.clock.same_day(lo, hi)
            days, anchors = located
            keys = anchors if st.step is None else anchors + (rec.ts - anchors) // st.step * st.step
            if st.watermark is not None and keys[0] == st.watermark and keys[-1] == st.watermark \
                    and (len(keys) < 3 or (keys == st.watermark).all()):
                self._same_bucket(st, rec, days, whole)
                st.anchor = day_anchor
            else:
                closed.extend((st.tf, bar) for bar in self._update_tf(st, rec, keys, days))
                st.anchor = None  # re-established by the next batch that stays in the bucket
        return closed

    def _same_bucket(self, st: _Timeframe, rec: Records, days: np.ndarray, whole: list) -> None:
        if not whole:
            idx = np.flatnonzero(rec.data)
            whole.append(self._reduce(rec, idx, np.zeros(1, np.int64), days) if len(idx) else None)
        if whole[0] is None:
            return
        (agg,), (pv,) = whole[0]
        if st.forming is None:
            st.forming = replace(agg, start=st.watermark)
        else:
            st.forming.merge(agg)
        st.forming.pv = _running_sum(st.forming.pv, pv)

    def _update_tf(self, st: _Timeframe, rec: Records, keys: np.ndarray, days: np.ndarray) -> list[Bar]:
        first = keys[0] if st.watermark is None else max(st.watermark, int(keys[0]))
        bucket = keys.copy()
        bucket[0] = first
        np.maximum.accumulate(bucket, out=bucket)
        in_bucket = rec.data & (keys == bucket)
        self.late += int(np.count_nonzero(rec.data & (keys < bucket)))
        run_starts = np.concatenate(([0], np.flatnonzero(np.diff(bucket)) + 1))
        out: list[Bar] = []
        if st.forming is not None and bucket[0] != st.forming.start:
            out.append(st.forming)
            st.forming = None
        idx = np.flatnonzero(in_bucket)
        if len(idx):
            run_of = np.searchsorted(run_starts, idx, side="right") - 1  # bucket run of each data record
            seg = np.concatenate(([0], np.flatnonzero(np.diff(run_of)) + 1))
            aggs, pvs = self._reduce(rec, idx, seg, days)
            seg_runs = run_of[seg]
        else:
            aggs, pvs, seg_runs = [], [], np.empty(0, np.int64)
        j = 0
        last_run = len(run_starts) - 1
        for r in range(len(run_starts)):
            start = int(bucket[run_starts[r]])
            if j < len(seg_runs) and seg_runs[j] == r:
                agg = aggs[j]
                agg.start = start
                j += 1
                if st.forming is None:
                    st.forming = agg
                else:
                    st.forming.merge(agg)
                st.forming.pv = _running_sum(st.forming.pv, pvs[j - 1])
            if r < last_run and st.forming is not None:
                out.append(st.forming)
                st.forming = None
        st.watermark = int(bucket[-1])
        return out

    @staticmethod
    def _reduce(rec: Records, idx: np.ndarray, seg: np.ndarray,
                days: np.ndarray) -> tuple[list[Bar], list[np.ndarray]]:
        """One partial bar per segment of consecutive in-bucket data records (pv left to the caller)."""
        ends = np.append(seg[1:], len(idx)) - 1
        pick = lambda a: a[idx]  # noqa: E731
        high = np.maximum.reduceat(pick(rec.high), seg)
        low = np.minimum.reduceat(pick(rec.low), seg)
        vol = np.add.reduceat(pick(rec.volume), seg)
        ntr = np.add.reduceat(pick(rec.num_trades), seg)
        bidv = np.add.reduceat(pick(rec.bid_volume), seg)
        askv = np.add.reduceat(pick(rec.ask_volume), seg)
        vwap_ok = np.logical_and.reduceat(pick(rec.vwap_ok), seg)
        pv = pick(rec.pv)
        first, last = idx[seg], idx[ends]
        bars = [Bar(0, int(days[first[k]]), float(rec.open[first[k]]), float(high[k]), float(low[k]),
                    float(rec.close[last[k]]), float(vol[k]), int(ntr[k]), float(bidv[k]), float(askv[k]),
                    0.0, bool(vwap_ok[k]))
                for k in range(len(seg))]
        return bars, [pv[seg[k]: ends[k] + 1] for k in range(len(seg))]

    # -- persistence -----------------------------------------------------------------
    def state(self) -> dict[str, bytes]:
        """Per timeframe: the watermark and the forming bar, as fixed-size bytes."""
        out = {}
        for tf, st in self._tfs.items():
            b = st.forming
            if b is None:
                out[tf] = _STATE.pack(False, st.watermark if st.watermark is not None else -(2**63),
                                      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, False)
            else:
                out[tf] = _STATE.pack(True, st.watermark, b.start, b.trading_day, b.open, b.high, b.low,
                                      b.close, b.volume, b.num_trades, b.bid_volume, b.ask_volume, b.pv,
                                      b.has_vwap)
        return out

    def load(self, state: dict[str, bytes]) -> None:
        for tf, st in self._tfs.items():
            raw = state.get(tf)
            if raw is None:
                st.watermark, st.forming = None, None
                continue
            (has, wm, start, day, o, h, low, c, v, n, bv, av, pv, vw) = _STATE.unpack(raw)
            st.watermark = None if wm == -(2**63) else wm
            st.forming = Bar(start, day, o, h, low, c, v, n, bv, av, pv, vw) if has else None
