"""Binary codecs of the sidecar's Redis values (key layout in :mod:`.live_keys`): 80-byte bars,
the bar ring's header and append commands, 56-byte tick stream entries.

Pure functions of bytes and arrays; no Redis client. A tick's ``kind`` byte holds the
``.scid`` reader's own codes (:data:`~marketdata_assets.sources.sierra.scid.KIND_TRADE`,
:data:`~marketdata_assets.sources.sierra.scid.KIND_QUOTE`), imported, never restated.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import pandas as pd

from marketdata_assets.sources.sierra.scid import KIND_NAMES

BAR_FORMAT = "<qdddddqddd"
BAR_STRUCT = struct.Struct(BAR_FORMAT)
BAR_DTYPE = np.dtype([
    ("ts", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"), ("close", "<f8"),
    ("volume", "<f8"), ("num_trades", "<i8"), ("bid_volume", "<f8"), ("ask_volume", "<f8"),
    ("vwap", "<f8"),
])
BAR_SIZE = BAR_DTYPE.itemsize  # 80, as BAR_STRUCT.size
BAR_FIELDS: tuple[str, ...] = BAR_DTYPE.names
BAR_COLUMNS = ["timeframe", *BAR_FIELDS]
TICK_DTYPE = np.dtype([
    ("ts", "<i8"), ("price", "<f8"), ("bid", "<f8"), ("ask", "<f8"), ("size", "<i8"), ("offset", "<i8"),
    ("num_trades", "<i4"), ("kind", "u1"), ("side", "u1"), ("sub_trade", "<u2"),
])  # 56 bytes
TICK_FIELD = b"t"
_KIND_NAMES = np.array(KIND_NAMES, dtype=object)  # code → "trade" / "quote" (the stream holds no bars)
_SIDE_NAMES = np.array([None, "buy", "sell"], dtype=object)
_UTC_US = pd.DatetimeTZDtype("us", "UTC")


# -- bars ------------------------------------------------------------------------------
def pack_bar(ts: int, open_: float, high: float, low: float, close: float, volume: float,
             num_trades: int, bid_volume: float, ask_volume: float, vwap: float) -> bytes:
    return BAR_STRUCT.pack(ts, open_, high, low, close, volume, num_trades, bid_volume, ask_volume, vwap)


def bar_dict(member: bytes) -> dict[str, Any]:
    values = BAR_STRUCT.unpack(member)
    return dict(zip(BAR_FIELDS, values, strict=True))


def _words(data: bytes | memoryview | np.ndarray) -> np.ndarray:
    """Concatenated records (bytes) or a ``BAR_DTYPE`` array → a (k, 10) view of 8-byte words."""
    if isinstance(data, np.ndarray):
        if data.dtype != BAR_DTYPE:
            raise TypeError(f"expected a BAR_DTYPE array, got {data.dtype}")
        return np.ascontiguousarray(data).view("<f8").reshape(-1, 10)
    if len(data) % BAR_SIZE:
        raise ValueError(f"{len(data)} bytes is not a whole number of {BAR_SIZE}-byte bars")
    return np.frombuffer(data, "<f8").reshape(-1, 10)


def _constant(value: str, n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    out.fill(value)  # np.full(..., dtype=object) goes through a unicode array: 10x slower
    return out


def bars_frame(data: bytes | memoryview | np.ndarray, timeframe: str) -> pd.DataFrame:
    """Concatenated 80-byte bars (or a ``BAR_DTYPE`` array), in order → the bar frame.

    Columns ``BAR_COLUMNS``: timeframe (object), ts (``datetime64[us, UTC]``), the float64
    fields and num_trades (int64); every column is a writable copy; row order is kept.
    One transposing copy of the records, then the public constructor without a second copy.
    """
    words = _words(data)
    cols = words.T.copy()  # (10, k): each field contiguous
    ints = cols.view("<i8")
    columns = {"timeframe": _constant(timeframe, len(words)),
               "ts": pd.DatetimeIndex(ints[0].view("datetime64[us]"), dtype=_UTC_US, copy=False)}
    for j, name in enumerate(BAR_FIELDS[1:], start=1):
        columns[name] = ints[j] if name == "num_trades" else cols[j]
    return pd.DataFrame(columns, copy=False)


# -- bar ring ----------------------------------------------------------------------------
RING_HEADER = struct.Struct("<qq")  # (total bars ever appended, capacity)


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


# -- text fields -------------------------------------------------------------------------
def fmt_float(x: float) -> str:
    """Shortest text that reads back as the same float (``nan`` for NaN)."""
    return "nan" if math.isnan(x) else repr(float(x))


# -- ticks -------------------------------------------------------------------------------
def pack_ticks(ts: np.ndarray, price: np.ndarray, bid: np.ndarray, ask: np.ndarray, size: np.ndarray,
               offset: np.ndarray, num_trades: np.ndarray, kind: np.ndarray, side: np.ndarray,
               sub_trade: np.ndarray) -> bytes:
    """Column arrays → the concatenated ``TICK_DTYPE`` records (one stream entry each);
    ``kind`` holds the ``.scid`` codes ``KIND_TRADE`` / ``KIND_QUOTE``."""
    rec = np.empty(len(ts), TICK_DTYPE)
    rec["ts"], rec["price"], rec["bid"], rec["ask"], rec["size"] = ts, price, bid, ask, size
    rec["offset"], rec["num_trades"], rec["kind"], rec["side"], rec["sub_trade"] = \
        offset, num_trades, kind, side, sub_trade
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
