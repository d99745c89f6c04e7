"""Redis layout of the streaming sidecar: key names, binary codecs and the read API.

The sidecar (``python -m marketdata_assets.sidecar``) is the only writer; anything else
reads through :class:`LiveCache`. ``{p}`` is ``MARKETDATA_REDIS_PREFIX`` (default ``md``),
``{i}`` an instrument (validated with ``validate_instrument`` before it touches a key, so it
never holds ``:``), ``{tf}`` one of ``1m 5m 15m 1h 4h 1d``. Times are UTC microseconds.

=============================  =======  ==================================================
key                            type     content
=============================  =======  ==================================================
``{p}:ticks:{i}``              stream   one entry per trade / bid-ask update, capped with
                                        ``XADD MAXLEN ~ MARKETDATA_SIDECAR_STREAM_MAXLEN``.
                                        Entry ID ``<ts_us // 1000>-<ts_us % 1000>`` (bumped by
                                        one when a record does not advance time), so a
                                        replayed record is refused by XADD. Fields ``ts``
                                        (µs), ``kind`` (trade|quote), ``price`` (empty for a
                                        quote), ``size``, ``bid``, ``ask``, ``side``
                                        (buy|sell|empty), ``num_trades``, ``sub_trade``,
                                        ``offset`` (byte offset of the record in the file).
``{p}:bars:{i}:{tf}``          zset     the last ``MARKETDATA_SIDECAR_BARS_KEPT`` (5000)
                                        closed bars; score = bar start (µs); member = 80
                                        bytes ``<qdddddqddd>``: ts, open, high, low, close,
                                        volume, num_trades, bid_volume, ask_volume, vwap
                                        (NaN when unknown). Capped with ZREMRANGEBYRANK.
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

import json
import math
import struct
import time
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib import recfunctions as rfn

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
TICK_FIELDS = ("ts", "kind", "price", "size", "bid", "ask", "side", "num_trades", "sub_trade", "offset")


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


def unpack_bars(members: list[bytes], timeframe: str) -> pd.DataFrame:
    """Packed bar members (any order) → a frame with the batch bar columns, sorted by ts.

    Built from one float block plus three columns: pandas' per-column overhead is most of
    the cost of a 5000-bar read.
    """
    arr = np.frombuffer(b"".join(reversed(members)), dtype=BAR_DTYPE) if members else np.empty(0, BAR_DTYPE)
    if len(arr) > 1 and not (arr["ts"][1:] >= arr["ts"][:-1]).all():  # ZREVRANGE gives newest first
        arr = arr[np.argsort(arr["ts"], kind="stable")]
    floats = rfn.structured_to_unstructured(arr[list(_FLOAT_FIELDS)]) if len(arr) else \
        np.empty((0, len(_FLOAT_FIELDS)))
    frame = pd.DataFrame(floats, columns=list(_FLOAT_FIELDS), copy=False)
    frame.insert(5, "num_trades", arr["num_trades"])
    frame.insert(0, "ts", pd.DatetimeIndex(arr["ts"].view("datetime64[us]")).tz_localize("UTC"))
    frame.insert(0, "timeframe", np.full(len(arr), timeframe, dtype=object))
    return frame


def bar_dict(member: bytes) -> dict[str, Any]:
    values = BAR_STRUCT.unpack(member)
    return dict(zip(BAR_FIELDS, values, strict=True))


def fmt_float(x: float) -> str:
    """Shortest text that reads back as the same float (``nan`` for NaN)."""
    return "nan" if math.isnan(x) else repr(float(x))


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def decode_ticks(entries: list[tuple[Any, dict]]) -> pd.DataFrame:
    """XRANGE entries → a tick frame (oldest first), columns like ``split_raw`` ticks."""
    cols: dict[str, list] = {name: [] for name in TICK_FIELDS}
    for _, fields in entries:
        f = {_text(k): _text(v) for k, v in fields.items()}
        for name in TICK_FIELDS:
            cols[name].append(f.get(name))
    frame = pd.DataFrame({
        "ts": pd.to_datetime(np.array(cols["ts"], dtype=np.int64), unit="us", utc=True).as_unit("us"),
        "kind": pd.Series(cols["kind"], dtype=object),
        "price": np.array([float(p) if p else np.nan for p in cols["price"]], dtype=np.float64),
        "size": np.array(cols["size"], dtype=np.int64),
        "bid": np.array(cols["bid"], dtype=np.float64),
        "ask": np.array(cols["ask"], dtype=np.float64),
        "side": pd.Series([s or None for s in cols["side"]], dtype=object),
        "num_trades": np.array(cols["num_trades"], dtype=np.int64),
        "sub_trade": np.array(cols["sub_trade"], dtype=np.int64),
        "source_offset": np.array(cols["offset"], dtype=np.int64),
    })
    return frame


class LiveCache:
    """Read API over the sidecar's keys (synchronous redis-py; one client per cache)."""

    def __init__(self, redis_url: str, prefix: str = "md", stale_s: float = 30.0, client=None):
        import redis

        self.keys = Keys(prefix)
        self.stale_s = stale_s
        self.redis = client or redis.Redis.from_url(redis_url, socket_timeout=5.0)

    def close(self) -> None:
        self.redis.close()

    def __enter__(self) -> LiveCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def bars(self, instrument: str, timeframe: str, n: int = 5000, include_forming: bool = False) -> pd.DataFrame:
        """The last ``n`` closed bars (oldest first), plus the forming one if asked."""
        members = self.redis.zrevrange(self.keys.bars(instrument, timeframe), 0, max(n, 1) - 1) if n > 0 else []
        if include_forming:
            forming = self.redis.hget(self.keys.forming(instrument), timeframe)
            if forming:
                members = [forming, *members]
        return unpack_bars(members, timeframe)

    def forming_bar(self, instrument: str, timeframe: str) -> dict[str, Any] | None:
        raw = self.redis.hget(self.keys.forming(instrument), check_timeframe(timeframe))
        return bar_dict(raw) if raw else None

    def ticks(self, instrument: str, n: int = 1000) -> pd.DataFrame:
        """The last ``n`` ticks of the stream, oldest first."""
        entries = self.redis.xrevrange(self.keys.ticks(instrument), count=n) if n > 0 else []
        return decode_ticks(list(reversed(entries)))

    def _last(self, instrument: str) -> dict[str, str]:
        raw = self.redis.hgetall(self.keys.last(instrument))
        return {_text(k): _text(v) for k, v in raw.items()}

    def last_quote(self, instrument: str) -> dict[str, Any] | None:
        last = self._last(instrument)
        if "quote_ts" not in last:
            return None
        return {"ts": pd.Timestamp(int(last["quote_ts"]), unit="us", tz="UTC"),
                "bid": float(last["bid"]), "ask": float(last["ask"])}

    def last_trade(self, instrument: str) -> dict[str, Any] | None:
        last = self._last(instrument)
        if "trade_ts" not in last:
            return None
        return {"ts": pd.Timestamp(int(last["trade_ts"]), unit="us", tz="UTC"),
                "price": float(last["price"]), "size": int(last["size"]), "side": last["side"] or None}

    def indicators(self, instrument: str, timeframe: str) -> dict[str, Any]:
        """Indicator values of the last closed bar (``ts`` is that bar's start); {} if none yet."""
        raw = {_text(k): _text(v) for k, v in self.redis.hgetall(self.keys.indicators(instrument, timeframe)).items()}
        if not raw:
            return {}
        out: dict[str, Any] = {"ts": pd.Timestamp(int(raw.pop("ts")), unit="us", tz="UTC")}
        out.update({k: float(v) for k, v in raw.items()})
        return out

    def heartbeat(self) -> dict[str, Any] | None:
        """The sidecar's last heartbeat with its age; None when absent (stopped or expired)."""
        raw = self.redis.get(self.keys.heartbeat)
        if raw is None:
            return None
        beat = json.loads(raw)
        beat["age_s"] = time.time() - beat["ts_us"] / 1e6
        beat["stale"] = beat["age_s"] > self.stale_s or beat.get("status") != "running"
        return beat

    def offsets(self) -> dict[str, int]:
        """Instrument → byte offset of its ``.scid`` file covered by what is in Redis."""
        return {_text(k): int(v) for k, v in self.redis.hgetall(self.keys.offsets).items()}
