"""Redis layout of the streaming sidecar: key names and binary codecs (the read API is :mod:`.live_reader`).

The sidecar (``python -m marketdata_assets.sidecar``) is the only writer; anything else
reads through :class:`LiveCache`. ``{p}`` is ``MARKETDATA_REDIS_PREFIX`` (default ``md``),
``{i}`` an instrument (validated with ``validate_instrument`` before it touches a key, so it
never holds ``:``), ``{tf}`` one of ``1m 5m 15m 1h 4h 1d``. Times are UTC microseconds.

=============================  =======  ==================================================
key                            type     content
=============================  =======  ==================================================
``{p}:ticks:{i}``              stream   one entry per trade / bid-ask update, capped with
                                        ``XTRIM MAXLEN ~ MARKETDATA_SIDECAR_STREAM_MAXLEN``
                                        once per commit. Entry ID ``<ts_us // 1000>-<ts_us %
                                        1000>`` (bumped by one when a record does not advance
                                        time), so a replayed record is refused by XADD. One
                                        field ``t``: 56 bytes ``TICK_DTYPE`` = ts (µs, i8),
                                        price (f8, NaN for a quote), bid, ask (f8), size,
                                        offset (i8; byte offset of the record in the file),
                                        num_trades (i4), kind (u1: 0 quote, 1 trade), side
                                        (u1: 0 none, 1 buy, 2 sell), sub_trade (u2).
``{p}:bars:{i}:{tf}``          string   ring buffer of the last ``capacity`` closed bars
                                        (``MARKETDATA_SIDECAR_BARS_KEPT``, 5000). Bytes 0-15:
                                        header ``<qq`` = (total bars ever appended,
                                        capacity); then ``capacity`` slots of 80 bytes
                                        ``<qdddddqddd`` (``BAR_DTYPE``): ts (bar start, µs),
                                        open, high, low, close, volume, num_trades,
                                        bid_volume, ask_volume, vwap (NaN when unknown).
                                        Bar number ``k`` (0-based, ``k < total``) is in slot
                                        ``k % capacity``, i.e. at byte ``16 + 80 * (k %
                                        capacity)``: the ring holds bars ``max(0, total -
                                        capacity)`` … ``total - 1``. Bars are appended in
                                        time order, never updated, with SETRANGE
                                        (:func:`ring_append_commands`); the string grows
                                        to ``16 + 80 * capacity`` bytes once full. Read in
                                        one atomic round trip: a Lua script (header, then one
                                        or two GETRANGEs), or GET when all of it is wanted.
``{p}:bar:{i}``                hash     the forming bar of each timeframe: field ``{tf}``,
                                        value as in ``bars`` (field absent: none forming).
``{p}:last:{i}``               hash     last trade (``trade_ts``, ``price``, ``size``,
                                        ``side``) and last quote (``quote_ts``, ``bid``,
                                        ``ask``).
``{p}:ind:{i}:{tf}``           hash     indicators of the last closed bar: ``ts`` and one
                                        field per ``indicator_columns()`` (``nan`` in warm-up).
``{p}:events:bar:{i}``         pub/sub  JSON event per closed bar (bar fields, indicators),
                                        published in the same transaction that stores it.
``{p}:heartbeat``              string   JSON ``{ts_us, pid, host, status, instruments}``,
                                        ``EX MARKETDATA_SIDECAR_HEARTBEAT_STALE_S``.
``{p}:offsets``                hash     ``{i}`` → byte offset up to which the file is in Redis.
``{p}:state:{i}``              hash     the sidecar's resume state (offset, file fingerprint,
                                        last stream ID, forming-bar builders, indicator
                                        state); internal, written with ``offsets``.
=============================  =======  ==================================================

Write rule: everything derived from a range of file records - ticks, closed and forming
bars, last trade/quote, indicators, bar events - and the offset and resume state at the
end of that range are written in ONE ``MULTI``/``EXEC``. A reader never sees bars without
the offset that covers them, and a restarted sidecar resumes exactly after the last range.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import pandas as pd

from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.model.timeframes import check_timeframe

BAR_FORMAT = "<qdddddqddd"
BAR_STRUCT = struct.Struct(BAR_FORMAT)
BAR_DTYPE = np.dtype([
    ("ts", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"), ("close", "<f8"),
    ("volume", "<f8"), ("num_trades", "<i8"), ("bid_volume", "<f8"), ("ask_volume", "<f8"),
    ("vwap", "<f8"),
])
assert BAR_DTYPE.itemsize == BAR_STRUCT.size == 80
BAR_FIELDS: tuple[str, ...] = BAR_DTYPE.names
_FLOAT_FIELDS = ("open", "high", "low", "close", "volume", "bid_volume", "ask_volume", "vwap")
BAR_COLUMNS = ["timeframe", *BAR_FIELDS]
TICK_DTYPE = np.dtype([
    ("ts", "<i8"), ("price", "<f8"), ("bid", "<f8"), ("ask", "<f8"), ("size", "<i8"), ("offset", "<i8"),
    ("num_trades", "<i4"), ("kind", "u1"), ("side", "u1"), ("sub_trade", "<u2"),
])
assert TICK_DTYPE.itemsize == 56
TICK_FIELD = b"t"
_KIND_NAMES = np.array(["quote", "trade"], dtype=object)
_SIDE_NAMES = np.array([None, "buy", "sell"], dtype=object)


class Keys:
    """Key names under one prefix; every instrument is validated before use."""

    def __init__(self, prefix: str):
        if not prefix or any(c in prefix for c in " \r\n*?[]"):
            raise ValueError(f"invalid Redis key prefix {prefix!r}")
        self.prefix = prefix
        self.offsets = f"{prefix}:offsets"
        self.heartbeat = f"{prefix}:heartbeat"

    def ticks(self, instrument: str) -> str:
        return f"{self.prefix}:ticks:{validate_instrument(instrument)}"

    def bars(self, instrument: str, timeframe: str) -> str:
        return f"{self.prefix}:bars:{validate_instrument(instrument)}:{check_timeframe(timeframe)}"

    def forming(self, instrument: str) -> str:
        return f"{self.prefix}:bar:{validate_instrument(instrument)}"

    def last(self, instrument: str) -> str:
        return f"{self.prefix}:last:{validate_instrument(instrument)}"

    def indicators(self, instrument: str, timeframe: str) -> str:
        return f"{self.prefix}:ind:{validate_instrument(instrument)}:{check_timeframe(timeframe)}"

    def bar_events(self, instrument: str) -> str:
        return f"{self.prefix}:events:bar:{validate_instrument(instrument)}"

    def state(self, instrument: str) -> str:
        return f"{self.prefix}:state:{validate_instrument(instrument)}"

    def instrument_keys(self, instrument: str, timeframes: tuple[str, ...]) -> list[str]:
        """Every data key of one instrument (what a reset deletes), not ``offsets``."""
        return [self.ticks(instrument), self.forming(instrument), self.last(instrument),
                self.state(instrument),
                *(self.bars(instrument, tf) for tf in timeframes),
                *(self.indicators(instrument, tf) for tf in timeframes)]


# -- codecs ----------------------------------------------------------------------------
def pack_bar(ts: int, open_: float, high: float, low: float, close: float, volume: float,
             num_trades: int, bid_volume: float, ask_volume: float, vwap: float) -> bytes:
    return BAR_STRUCT.pack(ts, open_, high, low, close, volume, num_trades, bid_volume, ask_volume, vwap)


# -- bar frames ------------------------------------------------------------------------
# A record seen as ten 8-byte words: 0 ts, 1-5 open..volume, 6 num_trades, 7-9 bid_volume..vwap.
_FLOAT_WORDS = np.array([BAR_FIELDS.index(f) for f in _FLOAT_FIELDS])
_FLOAT_PLACES = [BAR_COLUMNS.index(f) for f in _FLOAT_FIELDS]
_COLUMN_INDEX = pd.Index(BAR_COLUMNS)  # immutable: shared by every frame
_UTC_US = pd.DatetimeTZDtype("us", "UTC")


def _words(data: bytes | np.ndarray) -> np.ndarray:
    """Concatenated records (bytes) or a ``BAR_DTYPE`` array → a (k, 10) float64 view."""
    if isinstance(data, np.ndarray):
        if data.dtype != BAR_DTYPE:
            raise TypeError(f"expected a BAR_DTYPE array, got {data.dtype}")
        return np.ascontiguousarray(data).view("<f8").reshape(-1, 10)
    if len(data) % BAR_DTYPE.itemsize:
        raise ValueError(f"{len(data)} bytes is not a whole number of {BAR_DTYPE.itemsize}-byte bars")
    return np.frombuffer(data, "<f8").reshape(-1, 10)


def _constant(value: str, shape) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    out.fill(value)  # np.full(..., dtype=object) goes through a unicode array: 10x slower
    return out


def _frame_public(words: np.ndarray, timeframe: str) -> pd.DataFrame:
    """Reference construction (public pandas API only): one contiguous copy per field."""
    cols = words.T.copy()  # (10, k)
    ints = cols.view("<i8")
    data = {"timeframe": _constant(timeframe, len(words)),
            "ts": pd.DatetimeIndex(ints[0].view("datetime64[us]"), dtype=_UTC_US, copy=False)}
    for j, name in enumerate(BAR_FIELDS[1:], start=1):
        data[name] = ints[j] if name == "num_trades" else cols[j]
    return pd.DataFrame(data, copy=False)


def _frame_blocks(words: np.ndarray, timeframe: str) -> pd.DataFrame:
    """The same frame built from its four blocks: ~2x faster than any public constructor."""
    k = len(words)
    ints = words.view("<i8")
    ts = DatetimeArray._simple_new(ints[:, 0].copy().view("datetime64[us]"), dtype=_UTC_US)
    blocks = [
        make_block(_constant(timeframe, (1, k)), placement=[0]),
        make_block(ts, placement=[1], ndim=2),
        make_block(words.T[_FLOAT_WORDS], placement=_FLOAT_PLACES),  # fancy index: an (8, k) copy
        make_block(ints[:, 6].copy().reshape(1, k), placement=[BAR_COLUMNS.index("num_trades")]),
    ]
    mgr = BlockManager(blocks, [_COLUMN_INDEX, pd.RangeIndex(k)], verify_integrity=False)
    return pd.DataFrame._from_mgr(mgr, axes=mgr.axes)


def _pick_frame_builder():
    """The block builder relies on pandas internals: use it only if it gives the public frame."""
    sample = np.zeros(3, BAR_DTYPE)
    sample["ts"] = [60_000_000, 120_000_000, 180_000_000]
    sample["open"], sample["num_trades"], sample["vwap"] = [1.0, 2.0, 3.0], [1, 2, 3], [1.5, math.nan, 2.5]
    words = _words(sample)
    try:
        for part in (words, words[:0]):
            fast, ref = _frame_blocks(part, "1m"), _frame_public(part, "1m")
            if not (fast.equals(ref) and fast.columns.equals(ref.columns) and (fast.dtypes == ref.dtypes).all()
                    and fast.shape == ref.shape):
                return _frame_public
    except Exception:  # any change in pandas internals: fall back to the public API
        return _frame_public
    return _frame_blocks


try:
    from pandas.arrays import DatetimeArray
    from pandas.core.internals import BlockManager
    from pandas.core.internals.api import make_block
except ImportError:  # pragma: no cover - pandas moved its internals
    _frame_builder = _frame_public
else:
    _frame_builder = _pick_frame_builder()


def bars_frame(data: bytes | np.ndarray, timeframe: str) -> pd.DataFrame:
    """Concatenated 80-byte bars (or a ``BAR_DTYPE`` array), in order → the bar frame.

    Columns ``BAR_COLUMNS``: timeframe (object), ts (``datetime64[us, UTC]``), the float64
    fields and num_trades (int64); every column is a writable copy; row order is kept.
    """
    return _frame_builder(_words(data), timeframe)


# -- bar ring ----------------------------------------------------------------------------
RING_HEADER = struct.Struct("<qq")  # (total bars ever appended, capacity)
BAR_SIZE = BAR_DTYPE.itemsize


def ring_append_commands(key: str, capacity: int, first_seq: int, members: list[bytes]) -> list[tuple]:
    """Redis commands appending ``members`` as bar numbers ``first_seq, first_seq + 1, …``.

    To run in order inside one ``MULTI``: at most two SETRANGEs for the bars (contiguous
    slots coalesced; two when the run wraps past the last slot), then one for the header
    ``(first_seq + len(members), capacity)``. Of more than ``capacity`` members only the
    last ``capacity`` are written (the others would be overwritten anyway). ``first_seq``
    must be the key's current ``total`` (see :func:`ring_header`) and ``capacity`` must
    never change for a key (rebuild the key instead). No members → no commands.
    """
    if capacity < 1:
        raise ValueError(f"ring capacity must be >= 1, got {capacity}")
    if first_seq < 0:
        raise ValueError(f"first_seq must be >= 0, got {first_seq}")
    if not members:
        return []
    for i, member in enumerate(members):
        if len(member) != BAR_SIZE:
            raise ValueError(f"bar {i} for {key} is {len(member)} bytes, not {BAR_SIZE}")
    total = first_seq + len(members)
    if len(members) > capacity:
        members = members[-capacity:]
    slot = (total - len(members)) % capacity
    head = min(len(members), capacity - slot)  # bars that fit before the end of the ring
    cmds: list[tuple] = [("SETRANGE", key, RING_HEADER.size + slot * BAR_SIZE, b"".join(members[:head]))]
    if head < len(members):
        cmds.append(("SETRANGE", key, RING_HEADER.size, b"".join(members[head:])))
    cmds.append(("SETRANGE", key, 0, RING_HEADER.pack(total, capacity)))
    return cmds


def ring_header(raw: bytes | None) -> tuple[int, int] | None:
    """``GETRANGE key 0 15`` of a ring → ``(total, capacity)``; None for a missing key.

    Raises ValueError for a header of the wrong size or impossible values.
    """
    if not raw:
        return None
    if len(raw) != RING_HEADER.size:
        raise ValueError(f"{len(raw)}-byte ring header")
    total, capacity = RING_HEADER.unpack(raw)
    if capacity < 1 or total < 0:
        raise ValueError(f"ring header total {total}, capacity {capacity}")
    return total, capacity


# KEYS[1] the ring, ARGV[1] n (>= 0); with KEYS[2] (the forming-bar hash), ARGV[2] the timeframe.
# Returns {header, older, newer, forming}: the ring's 16-byte header ('' if the key is missing),
# the last min(n, total, capacity) closed bars oldest first as one or two strings (``newer`` is
# '' unless the run wraps past the last slot), and the forming bar ('' if none or not asked).
# Parts are not concatenated in Lua: Redis 7 hashes every byte of each Lua string it makes
# (~1.2 ns/byte here), so each 400 KB string costs ~0.5 ms of server time.
BARS_LUA = """
local key = KEYS[1]
local head = redis.pcall('GETRANGE', key, 0, 15)
if type(head) == 'table' then
  return redis.error_reply('WRONGTYPE bars key ' .. key .. ' holds a ' .. redis.call('TYPE', key)['ok'] ..
    ', not a bar ring string')
end
local older, newer, forming = '', '', ''
if #head > 0 then
  if #head < 16 then
    return redis.error_reply('CORRUPT bars key ' .. key .. ': ' .. #head .. '-byte ring header')
  end
  local total, cap = struct.unpack('<i8i8', head)
  if cap < 1 or total < 0 then
    return redis.error_reply('CORRUPT bars key ' .. key .. ': ring header total ' .. total .. ', capacity ' .. cap)
  end
  local k = math.min(tonumber(ARGV[1]), total, cap)
  if k > 0 then
    local first = (total - k) % cap
    local stop = first + k
    if stop <= cap then
      older = redis.call('GETRANGE', key, 16 + first * 80, 15 + stop * 80)
    else
      older = redis.call('GETRANGE', key, 16 + first * 80, 15 + cap * 80)
      newer = redis.call('GETRANGE', key, 16, 15 + (stop - cap) * 80)
    end
    if #older + #newer ~= k * 80 then
      return redis.error_reply('CORRUPT bars key ' .. key .. ': ' .. (#older + #newer) .. ' bytes for ' .. k .. ' bars')
    end
  end
end
if KEYS[2] then
  local bar = redis.pcall('HGET', KEYS[2], ARGV[2])
  if type(bar) == 'table' then
    return redis.error_reply('WRONGTYPE forming-bar key ' .. KEYS[2] .. ' holds a ' ..
      redis.call('TYPE', KEYS[2])['ok'] .. ', not a hash')
  end
  if bar then
    forming = bar
  end
end
return {head, older, newer, forming}
"""


def bar_dict(member: bytes) -> dict[str, Any]:
    values = BAR_STRUCT.unpack(member)
    return dict(zip(BAR_FIELDS, values, strict=True))


def fmt_float(x: float) -> str:
    """Shortest text that reads back as the same float (``nan`` for NaN)."""
    return "nan" if math.isnan(x) else repr(float(x))


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def pack_ticks(ts: np.ndarray, price: np.ndarray, bid: np.ndarray, ask: np.ndarray, size: np.ndarray,
               offset: np.ndarray, num_trades: np.ndarray, trade: np.ndarray, side: np.ndarray,
               sub_trade: np.ndarray) -> bytes:
    """Column arrays → the concatenated ``TICK_DTYPE`` records (one stream entry each)."""
    rec = np.empty(len(ts), TICK_DTYPE)
    rec["ts"], rec["price"], rec["bid"], rec["ask"], rec["size"] = ts, price, bid, ask, size
    rec["offset"], rec["num_trades"], rec["kind"], rec["side"], rec["sub_trade"] = \
        offset, num_trades, trade, side, sub_trade
    return rec.tobytes()


def decode_ticks(entries: list[tuple[Any, dict]]) -> pd.DataFrame:
    """XRANGE entries → a tick frame (oldest first), columns like ``split_raw`` ticks."""
    raw = b"".join(fields[TICK_FIELD] for _, fields in entries)
    rec = np.frombuffer(raw, TICK_DTYPE)
    return pd.DataFrame({
        "ts": pd.DatetimeIndex(rec["ts"].view("datetime64[us]")).tz_localize("UTC"),
        "kind": _KIND_NAMES[rec["kind"]],
        "price": rec["price"].copy(),
        "size": rec["size"].copy(),
        "bid": rec["bid"].copy(),
        "ask": rec["ask"].copy(),
        "side": _SIDE_NAMES[rec["side"]],
        "num_trades": rec["num_trades"].astype(np.int64),
        "sub_trade": rec["sub_trade"].astype(np.int64),
        "source_offset": rec["offset"].copy(),
    })
