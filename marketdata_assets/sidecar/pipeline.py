"""One instrument's records → a :class:`Batch`: ticks, closed/forming bars, indicators, state.

Pure apart from its own state (no I/O), so the same records always give the same batch
contents whatever the read boundaries. Prices use ``f32_decimal`` like the batch path
(``split_raw``), so the live and batch ticks carry identical prices; bars follow
:mod:`marketdata_assets.sidecar.bars`; indicators are updated once per closed bar and
timeframe with :class:`~marketdata_assets.transforms.incremental.IncrementalIndicators`.
The whole state (forming bars, indicator state, last stream ID) is exported with every
batch so it can be committed atomically with the offset the batch ends at.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from marketdata_assets.model.sessions import Market
from marketdata_assets.model.timeframes import TIMEFRAMES
from marketdata_assets.sidecar.bars import Bar, BarBuilder, Records
from marketdata_assets.sources.sierra.scid import (
    KIND_BAR,
    KIND_QUOTE,
    KIND_TRADE,
    RECORD_SIZE,
    TS_INVALID,
    classify,
    decode_datetimes,
    valid_timestamps,
)
from marketdata_assets.storage.live_codec import pack_bar, pack_ticks
from marketdata_assets.transforms.incremental import IncrementalIndicators
from marketdata_assets.transforms.indicators import DEFAULT_PARAMS, IndicatorParams
from marketdata_assets.transforms.normalize import f32_decimal

SIDE_NAMES = ("", "buy", "sell")
# 2: binary tick entries and bar rings; 3: tick ``kind`` bytes are the .scid KIND_* codes.
# Any other layout in Redis is rebuilt from the file.
STATE_LAYOUT = "3"


@dataclass
class ClosedBar:
    timeframe: str
    bar: Bar
    indicators: dict[str, float]
    seq: int = 0                 # number of this bar among the timeframe's closed bars (ring slot)

    def packed(self) -> bytes:
        b = self.bar
        return pack_bar(b.start, b.open, b.high, b.low, b.close, b.volume, b.num_trades,
                        b.bid_volume, b.ask_volume, b.vwap)

    def event(self, instrument: str) -> dict[str, Any]:
        b = self.bar
        return {
            "type": "bar", "instrument": instrument, "timeframe": self.timeframe,
            "ts": pd.Timestamp(b.start, unit="us", tz="UTC").isoformat(), "ts_us": b.start,
            "trading_date": b.trading_date.isoformat(), "open": b.open, "high": b.high, "low": b.low,
            "close": b.close, "volume": b.volume, "num_trades": b.num_trades, "bid_volume": b.bid_volume,
            "ask_volume": b.ask_volume, "vwap": _json_float(b.vwap),
            "indicators": {k: _json_float(v) for k, v in self.indicators.items()},
        }


def _json_float(x: float) -> float | None:
    return None if math.isnan(x) else x


@dataclass
class Ticks:
    """Trades and bid/ask updates of a batch, column-wise, with their stream IDs."""

    ts: np.ndarray
    kind: np.ndarray        # KIND_TRADE or KIND_QUOTE (the .scid reader's codes)
    price: np.ndarray
    size: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    side: np.ndarray        # 0 none, 1 buy, 2 sell
    num_trades: np.ndarray
    sub_trade: np.ndarray
    offset: np.ndarray
    id_ms: np.ndarray
    id_seq: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def trade(self) -> np.ndarray:
        """True for a trade, False for a bid/ask update."""
        return self.kind == KIND_TRADE

    def packed(self) -> bytes:
        """The ticks as concatenated ``TICK_DTYPE`` records (one stream entry each)."""
        return pack_ticks(self.ts, self.price, self.bid, self.ask, self.size, self.offset, self.num_trades,
                          self.kind, self.side, self.sub_trade)


@dataclass
class Batch:
    """Everything one read of one instrument produced, to be committed in one transaction."""

    instrument: str
    start_offset: int
    end_offset: int
    records: int
    ticks: Ticks
    closed: list[ClosedBar]
    forming: dict[str, bytes | None]
    last: dict[str, str]
    state: dict[str, bytes | str]
    read_at: float = field(default_factory=time.monotonic)
    invalid: int = 0             # records left out: DateTime decodes to no instant (TS_INVALID)


class DecimalMemo:
    """:func:`f32_decimal` remembering the few distinct prices a live feed repeats.

    A live batch holds a handful of prices on the tick grid: a dict lookup per value is
    cheaper than the vectorized search over 6-9 digits. Large batches go straight to
    ``f32_decimal``; both give the same values (it works value by value).
    """

    def __init__(self, limit: int = 100_000, small: int = 256):
        self.limit, self.small = limit, small
        self.memo: dict[int, float] = {}

    def __call__(self, values: np.ndarray) -> np.ndarray:
        if len(values) > self.small or values.dtype != np.float32:
            return f32_decimal(values)
        bits = values.view(np.uint32).tolist()
        memo = self.memo
        missing = [b for b in set(bits) if b not in memo]
        if missing:
            if len(memo) + len(missing) > self.limit:
                memo.clear()
                missing = list(set(bits))
            found = f32_decimal(np.array(missing, np.uint32).view(np.float32))
            memo.update(zip(missing, found.tolist(), strict=True))
        return np.array([memo[b] for b in bits], np.float64)


class InstrumentPipeline:
    def __init__(self, instrument: str, market: Market, params: IndicatorParams = DEFAULT_PARAMS):
        self.instrument = instrument
        self.market = market
        self.params = params
        self.builder = BarBuilder(market, TIMEFRAMES)
        self.indicators = {tf: IncrementalIndicators(params) for tf in TIMEFRAMES}
        self.last_id = (0, 0)
        self.closed_count = dict.fromkeys(TIMEFRAMES, 0)  # bars closed so far per timeframe
        self.fingerprint: str | None = None
        self.decimals = DecimalMemo()

    # -- processing ------------------------------------------------------------------
    def process(self, rec: np.ndarray, start_offset: int) -> Batch:
        total = len(rec)
        ts = decode_datetimes(rec["dt"].astype(np.int64))
        pos = None  # file positions of the records kept, when some had an invalid time
        if total and ts.min() == TS_INVALID:  # never reaches bars or streams; the offset still moves past it
            ok = valid_timestamps(ts)
            pos = np.flatnonzero(ok)
            rec, ts = rec[ok], ts[ok]
        n = len(rec)
        kind, sub = classify(rec["open"], rec["high"], rec["low"], rec["total_volume"])
        trade, quote, base = kind == KIND_TRADE, kind == KIND_QUOTE, kind == KIND_BAR
        size = rec["total_volume"].astype(np.int64)
        close, bid_all, ask_all = self.decimals(np.concatenate((rec["close"], rec["low"], rec["high"]))).reshape(3, n)
        any_base = bool(base.any())
        bidv, askv = rec["bid_volume"].astype(np.int64), rec["ask_volume"].astype(np.int64)
        side = np.where(trade & (askv > 0) & (bidv == 0), 1, np.where(trade & (bidv > 0) & (askv == 0), 2, 0))
        fsize = size.astype(np.float64)
        price = np.where(trade, close, np.nan)

        bid_volume = np.where(side == 2, fsize, 0.0)
        ask_volume = np.where(side == 1, fsize, 0.0)
        if any_base:  # base-bar records carry their own OHLC and side volumes
            bid_volume = np.where(base, bidv, bid_volume)
            ask_volume = np.where(base, askv, ask_volume)
        closed = self._bars(Records(
            ts=ts, data=trade | base,
            open=np.where(base, self.decimals(rec["open"]), close) if any_base else close,
            high=np.where(base, ask_all, close) if any_base else close,
            low=np.where(base, bid_all, close) if any_base else close,
            close=close, volume=fsize, num_trades=rec["num_trades"].astype(np.int64),
            bid_volume=bid_volume, ask_volume=ask_volume,
            pv=np.where(trade, close * fsize, 0.0), vwap_ok=trade,
        ))
        tick = trade | quote
        idx = np.flatnonzero(tick)
        t_ts = ts[idx]
        id_ms, id_seq = self._stream_ids(t_ts)
        ticks = Ticks(ts=t_ts, kind=kind[idx], price=price[idx], size=size[idx], bid=bid_all[idx],
                      ask=ask_all[idx], side=side[idx], num_trades=rec["num_trades"][idx].astype(np.int64),
                      sub_trade=sub[idx].astype(np.int64),
                      offset=start_offset + (idx if pos is None else pos[idx]).astype(np.int64) * RECORD_SIZE, id_ms=id_ms, id_seq=id_seq)
        last: dict[str, str] = {}
        t_idx = np.flatnonzero(trade)
        if len(t_idx):
            i = t_idx[-1]
            last.update(trade_ts=str(int(ts[i])), price=repr(float(close[i])), size=str(int(size[i])),
                        side=SIDE_NAMES[int(side[i])])
        if len(idx):
            i = idx[-1]
            last.update(quote_ts=str(int(ts[i])), bid=repr(float(bid_all[i])), ask=repr(float(ask_all[i])))
        end = start_offset + total * RECORD_SIZE
        state = self.state_fields(end, indicators_of={c.timeframe for c in closed})
        return Batch(self.instrument, start_offset, end, total, ticks, closed, self.forming_packed(), last, state,
                     invalid=total - n)

    def _bars(self, records: Records) -> list[ClosedBar]:
        out = []
        for tf, bar in self.builder.update(records):
            values = self.indicators[tf].update({
                "ts": pd.Timestamp(bar.start, unit="us", tz="UTC"), "open": bar.open, "high": bar.high,
                "low": bar.low, "close": bar.close, "volume": bar.volume, "trading_date": bar.trading_date,
            })
            out.append(ClosedBar(tf, bar, values, self.closed_count[tf]))
            self.closed_count[tf] += 1
        return out

    def _stream_ids(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``ms-seq`` stream IDs from µs timestamps, strictly increasing after ``last_id``."""
        if len(ts) == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        ms, seq = np.floor_divide(ts, 1000), np.mod(ts, 1000)
        lm, ls = self.last_id
        if (ms[0], seq[0]) > (lm, ls) and (len(ts) == 1 or np.all(np.diff(ts) > 0)):
            self.last_id = (int(ms[-1]), int(seq[-1]))
            return ms, seq
        ms, seq = ms.copy(), seq.copy()
        for i in range(len(ts)):  # rare: equal or backwards timestamps
            m, s = int(ms[i]), int(seq[i])
            if (m, s) <= (lm, ls):
                m, s = lm, ls + 1
            ms[i], seq[i] = m, s
            lm, ls = m, s
        self.last_id = (lm, ls)
        return ms, seq

    def forming_packed(self) -> dict[str, bytes | None]:
        out: dict[str, bytes | None] = {}
        for tf in TIMEFRAMES:
            b = self.builder.forming(tf)
            out[tf] = None if b is None else pack_bar(b.start, b.open, b.high, b.low, b.close, b.volume,
                                                      b.num_trades, b.bid_volume, b.ask_volume, b.vwap)
        return out

    # -- persistence -----------------------------------------------------------------
    def state_fields(self, offset: int, indicators_of: set[str] | None = None) -> dict[str, bytes | str]:
        """Resume state at ``offset``; indicator state only for ``indicators_of`` (all if None)."""
        fields: dict[str, bytes | str] = {"layout": STATE_LAYOUT, "offset": str(offset), "fp": self.fingerprint or "",
                                          "last_id": f"{self.last_id[0]}-{self.last_id[1]}",
                                          "closed": json.dumps(self.closed_count)}
        fields.update({f"bars:{tf}": raw for tf, raw in self.builder.state().items()})
        for tf in TIMEFRAMES if indicators_of is None else indicators_of:
            fields[f"ind:{tf}"] = json.dumps(self.indicators[tf].state_dict(), allow_nan=True)
        return fields

    def load(self, fields: dict[str, bytes]) -> int:
        """Restore from :meth:`state_fields` as read back from Redis; returns the offset."""
        text = {k.decode() if isinstance(k, bytes) else k: v for k, v in fields.items()}
        layout = text.get("layout", b"").decode()
        if layout != STATE_LAYOUT:
            raise ValueError(f"resume state of layout {layout or '1'!r}, this sidecar writes {STATE_LAYOUT!r}")
        closed = json.loads(text["closed"])
        self.closed_count = {tf: int(closed.get(tf, 0)) for tf in TIMEFRAMES}
        self.fingerprint = text["fp"].decode() or None
        m, s = text["last_id"].decode().split("-")
        self.last_id = (int(m), int(s))
        self.builder.load({tf: text[f"bars:{tf}"] for tf in TIMEFRAMES if f"bars:{tf}" in text})
        for tf in TIMEFRAMES:
            raw = text.get(f"ind:{tf}")
            self.indicators[tf] = (IncrementalIndicators.from_state(json.loads(raw)) if raw
                                   else IncrementalIndicators(self.params))
        return int(text["offset"])
