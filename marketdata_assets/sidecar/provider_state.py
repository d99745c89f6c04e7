"""One provider instrument's live bars: provider 1m bars in, the sidecar's bar contract out.

Bars in, not ticks. Each poll brings the latest 1m bars of one provider:

- a minute that had ended when the request was sent is *closed*: appended once, in time
  order, to the 1m bars, then fed as a base bar to the same :class:`BarBuilder` as the
  ``.scid`` path for 5m … 1d (session-anchored, closed on data time) and to the incremental
  indicators of each timeframe;
- the minute still running is the *forming* 1m bar: each poll's version replaces the last;
  the forming bar of a higher timeframe is its builder's forming bar plus this minute;
- a closed minute that comes back with other values (from its own provider or a provider of
  higher priority), or a minute missing between closed ones that a provider now has, is a
  *late correction*, applied and counted: the derived state (bar builder, indicators, bar
  counts) is restored from the last copy taken before that minute (one every 30 closed
  minutes, the last two kept) and the minutes after it are replayed, which rewrites exactly
  their ring slots; an older correction rebuilds every timeframe from the kept 1m bars.
  A lower-priority provider never overwrites a closed minute a higher-priority one served.

The same minute is therefore one bar whatever the providers: its provider is recorded with
it. A provider without volume for the instrument (NaN, or only zeros from an index or FX
feed) leaves the volume NaN ("none"), and a higher-timeframe bar holding such a minute has
a NaN volume too, rather than a sum of some providers' volumes.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from marketdata_assets.model.sessions import Market
from marketdata_assets.model.timeframes import TIMEFRAME_US, TIMEFRAMES
from marketdata_assets.sidecar.bars import Bar, BarBuilder, Records
from marketdata_assets.sidecar.pipeline import ClosedBar
from marketdata_assets.transforms.incremental import IncrementalIndicators

MINUTE_US = 60_000_000
CHECKPOINT_EVERY = 30  # closed minutes between two copies of the derived state (two are kept)
HIGHER = tuple(tf for tf in TIMEFRAMES if tf != "1m")
NO_VOLUME_CLASSES = frozenset({"fx", "index"})


@dataclass
class Minute:
    ts: int                    # bar start, UTC µs
    values: tuple[float, float, float, float, float]  # open, high, low, close, volume (NaN: none)
    provider: str
    request: str = ""


@dataclass
class Update:
    """What one poll changed, for the publisher and the journal."""

    closed: list[ClosedBar] = field(default_factory=list)       # every timeframe, in order
    minutes: list[Minute] = field(default_factory=list)         # new closed 1m bars (all kept on a snapshot)
    corrected: list[Minute] = field(default_factory=list)       # corrections applied (journal)
    evicted: list[int] = field(default_factory=list)            # 1m starts no longer kept
    forming: dict[str, Bar | None] = field(default_factory=dict)
    forming_provider: str | None = None
    snapshot: bool = False     # rings, indicators and sources are rewritten from scratch
    replayed: bool = False     # ``closed`` rewrites bars already published (a correction's replay)


def frame_minutes(frame: pd.DataFrame, provider: str, asset_class: str) -> list[Minute]:
    """A provider bar frame (``sources.http`` shape) → minutes, with the volume rule applied."""
    ts = frame["ts"].dt.as_unit("us").astype("int64").to_numpy()
    vol = frame["volume"].to_numpy(dtype=float)
    if asset_class in NO_VOLUME_CLASSES and np.nan_to_num(vol).sum() == 0:
        vol = np.full(len(vol), np.nan)
    cols = [frame[c].to_numpy(dtype=float) for c in ("open", "high", "low", "close")]
    requests = frame["request"].tolist()
    return [Minute(int(t), (cols[0][i], cols[1][i], cols[2][i], cols[3][i], float(vol[i])), provider, requests[i])
            for i, t in enumerate(ts.tolist())]


def _same(a: tuple, b: tuple) -> bool:
    return all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))


class ProviderBars:
    def __init__(self, instrument: str, market: Market, bars_kept: int, rank: dict[str, int]):
        self.instrument = instrument
        self.market = market
        self.bars_kept = bars_kept
        self.rank = rank                      # provider → priority (0 first)
        self.kept: deque[Minute] = deque()
        self.forming_minute: Minute | None = None
        self.corrections = 0
        self._reset()

    def _reset(self) -> None:
        self.builder = BarBuilder(self.market, HIGHER)
        self.indicators = {tf: IncrementalIndicators() for tf in TIMEFRAMES}
        self.closed_count = dict.fromkeys(TIMEFRAMES, 0)
        self._checkpoints: deque[tuple[int, BarBuilder, dict, dict]] = deque(maxlen=2)
        self._checkpoint_at = 0  # closed 1m count of the last checkpoint

    def _copy(self, obj):
        return copy.deepcopy(obj, {id(self.market): self.market})

    @property
    def last_ts(self) -> int | None:
        return self.kept[-1].ts if self.kept else None

    # -- polls -----------------------------------------------------------------------
    def apply(self, minutes: list[Minute], asof_us: int) -> Update:
        """Fold one poll's minutes (requested at ``asof_us``) into the state."""
        up = Update()
        closed = [m for m in minutes if m.ts + MINUTE_US <= asof_us]
        forming = [m for m in minutes if m.ts + MINUTE_US > asof_us]
        late = self._late(closed, up)
        if late:
            self.corrections += len(late)
            up.corrected = late
            return self._replay(up, forming, min(m.ts for m in late))
        fresh = [m for m in closed if self.last_ts is None or m.ts > self.last_ts]
        up.closed = self._append(fresh, up)
        up.minutes = fresh
        self._forming(up, forming[-1] if forming else None)
        return up

    def _late(self, closed: list[Minute], up: Update) -> list[Minute]:
        """Closed minutes at or before the last kept one that change it (applied to ``kept``)."""
        if not self.kept or not closed:
            return []
        first = self.kept[0].ts
        index = {m.ts: i for i, m in enumerate(self.kept)}
        late: list[Minute] = []
        for m in closed:
            if m.ts > self.kept[-1].ts or m.ts < first:
                continue
            i = index.get(m.ts)
            if i is None:
                late.append(m)                                   # a minute missing in between
            else:
                old = self.kept[i]
                if not _same(old.values, m.values) and self.rank.get(m.provider, 99) <= self.rank.get(old.provider, 99):
                    self.kept[i] = m
                    late.append(m)
        if any(m.ts not in index for m in late):
            self.kept = deque(sorted([*self.kept, *(m for m in late if m.ts not in index)], key=lambda m: m.ts))
            while len(self.kept) > self.bars_kept:
                up.evicted.append(self.kept.popleft().ts)
        return late

    def load(self, minutes: list[Minute], asof_us: int) -> Update:
        """Backfill: the closed minutes become the kept history; everything is rebuilt."""
        closed = sorted((m for m in minutes if m.ts + MINUTE_US <= asof_us), key=lambda m: m.ts)
        self.kept = deque(closed[-self.bars_kept:])
        return self._snapshot(Update(), [m for m in minutes if m.ts + MINUTE_US > asof_us])

    def snapshot(self) -> Update:
        """Everything again (Redis lost it): rings, indicators, sources and the forming bar."""
        return self._snapshot(Update(), [self.forming_minute] if self.forming_minute else [])

    # -- internals -----------------------------------------------------------------------
    def _replay(self, up: Update, forming: list[Minute], earliest: int) -> Update:
        """Restore the newest checkpoint before ``earliest`` and replay the kept minutes after it
        (a full rebuild when there is none)."""
        usable = [c for c in self._checkpoints if c[0] < earliest and self.kept and c[0] >= self.kept[0].ts]
        if not usable:
            return self._snapshot(up, forming)
        ts, builder, indicators, counts = usable[-1]
        self._checkpoints = deque((c for c in self._checkpoints if c[0] < earliest), maxlen=2)
        self.builder, self.indicators = self._copy(builder), self._copy(indicators)
        self.closed_count, self._checkpoint_at = dict(counts), counts["1m"]
        up.replayed = True
        up.closed = self._append([m for m in self.kept if m.ts > ts], up, keep=False)
        up.minutes = [m for m in up.corrected]
        fresh = [m for m in forming if m.ts > self.last_ts]
        self._forming(up, fresh[-1] if fresh else None)
        return up

    def _snapshot(self, up: Update, forming: list[Minute]) -> Update:
        fresh = [m for m in forming if self.last_ts is None or m.ts > self.last_ts]
        history, self.kept = list(self.kept), deque()
        self._reset()
        up.snapshot = True
        up.closed = self._append(history, up)
        up.minutes, up.evicted = list(self.kept), []
        self._forming(up, fresh[-1] if fresh else None)
        return up

    def _append(self, minutes: list[Minute], up: Update, keep: bool = True) -> list[ClosedBar]:
        """Derive the closed bars of ``minutes`` (and keep them, unless replaying), taking a
        checkpoint every ``CHECKPOINT_EVERY`` closed minutes near the end of the batch."""
        out: list[ClosedBar] = []
        i = 0
        while i < len(minutes):
            room = max(1, CHECKPOINT_EVERY - (self.closed_count["1m"] - self._checkpoint_at))
            chunk = minutes[i:i + room]
            out += self._derive(chunk)
            if keep:
                self.kept.extend(chunk)
            i += len(chunk)
            if self.closed_count["1m"] - self._checkpoint_at >= CHECKPOINT_EVERY:
                self._checkpoint_at = self.closed_count["1m"]
                if len(minutes) - i < 2 * CHECKPOINT_EVERY:  # only the last two are ever kept
                    self._checkpoints.append((chunk[-1].ts, self._copy(self.builder), self._copy(self.indicators),
                                              dict(self.closed_count)))
        while len(self.kept) > self.bars_kept:
            up.evicted.append(self.kept.popleft().ts)
        return out

    def _derive(self, minutes: list[Minute]) -> list[ClosedBar]:
        ts = np.array([m.ts for m in minutes], np.int64)
        days, _ = self.builder.clock.locate(ts)
        out: list[ClosedBar] = []
        for m, day in zip(minutes, days.tolist(), strict=True):
            o, h, low, c, v = m.values
            out.append(self._closed("1m", Bar(m.ts, int(day), o, h, low, c, v, 0, math.nan, math.nan, 0.0, False)))
        vals = np.array([m.values for m in minutes], float)
        nan = np.full(len(minutes), math.nan)
        for tf, bar in self.builder.update(Records(
                ts=ts, data=np.ones(len(ts), bool), open=vals[:, 0], high=vals[:, 1], low=vals[:, 2],
                close=vals[:, 3], volume=vals[:, 4], num_trades=np.zeros(len(ts), np.int64),
                bid_volume=nan, ask_volume=nan, pv=np.zeros(len(ts)), vwap_ok=np.zeros(len(ts), bool))):
            out.append(self._closed(tf, bar))
        return out

    def _closed(self, tf: str, bar: Bar) -> ClosedBar:
        values = self.indicators[tf].update({
            "ts": pd.Timestamp(bar.start, unit="us", tz="UTC"), "open": bar.open, "high": bar.high, "low": bar.low,
            "close": bar.close, "volume": bar.volume if math.isfinite(bar.volume) else 0.0,
            "trading_date": bar.trading_date})
        closed = ClosedBar(tf, bar, values, self.closed_count[tf])
        self.closed_count[tf] += 1
        return closed

    def _forming(self, up: Update, minute: Minute | None) -> None:
        self.forming_minute = minute
        up.forming_provider = minute.provider if minute else None
        m_bar = None
        if minute is not None:
            o, h, low, c, v = minute.values
            day = int(self.builder.clock.locate(np.array([minute.ts], np.int64))[0][0])
            m_bar = Bar(minute.ts, day, o, h, low, c, v, 0, math.nan, math.nan, 0.0, False)
        up.forming["1m"] = m_bar
        for tf in HIGHER:
            base = self.builder.forming(tf)
            if m_bar is None:
                up.forming[tf] = base
                continue
            start = self._bucket(tf, m_bar)
            if base is None or base.start != start:
                up.forming[tf] = replace(m_bar, start=start)
            else:
                merged = replace(base)
                merged.merge(m_bar)
                up.forming[tf] = merged

    def _bucket(self, tf: str, m: Bar) -> int:
        anchor = self.builder.clock.anchor_of(m.trading_day)
        step = TIMEFRAME_US.get(tf)
        return anchor if step is None else anchor + (m.start - anchor) // step * step
