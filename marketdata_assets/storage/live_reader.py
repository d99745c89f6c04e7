"""The sidecar's Redis read API (:class:`LiveCache`): bars, ticks, quotes, indicators and
the heartbeat, for any reader. Key names are in :mod:`.live_keys`, codecs in :mod:`.live_codec`."""

from __future__ import annotations

import json
import operator
import time
from typing import Any

import numpy as np
import pandas as pd

from marketdata_assets.errors import StorageError
from marketdata_assets.model.timeframes import check_timeframe
from marketdata_assets.storage.live_codec import (
    BAR_DTYPE,
    BAR_SIZE,
    RING_HEADER,
    bar_dict,
    bars_frame,
    decode_ticks,
    ring_header,
)
from marketdata_assets.storage.live_keys import Keys

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


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class LiveCache:
    """Read API over the sidecar's keys (synchronous redis-py; one client per cache).

    A 5000-bar read allocates and frees a few 400 KB buffers: in a process that reads
    often, :func:`marketdata_assets.sidecar.malloc.tune_malloc` (what the sidecar does at
    start) keeps glibc from trimming and page-faulting them in again on every read.
    """

    def __init__(self, redis_url: str, prefix: str = "md", stale_s: float = 30.0, client=None):
        import redis

        self.keys = Keys(prefix)
        self.stale_s = stale_s
        self.redis = client or redis.Redis.from_url(redis_url, socket_timeout=5.0)
        self._read_bars = self.redis.register_script(BARS_LUA)
        self._response_error = redis.ResponseError
        self._redis_error = redis.RedisError
        self._capacity: dict[str, int] = {}  # ring key → capacity seen in its last header

    def close(self) -> None:
        self.redis.close()

    def __enter__(self) -> LiveCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def bars(self, instrument: str, timeframe: str, n: int = 5000, include_forming: bool = False) -> pd.DataFrame:
        """The last ``n`` closed bars (oldest first), plus the forming one if asked."""
        return bars_frame(self._bars_bytes(instrument, timeframe, n, include_forming), timeframe)

    def bars_array(self, instrument: str, timeframe: str, n: int = 5000,
                   include_forming: bool = False) -> np.ndarray:
        """As :meth:`bars`, as the raw ``BAR_DTYPE`` records (ts in µs since the epoch, UTC).

        Read-only: a view of the reply bytes (no copy); ``.copy()`` it to modify.
        """
        return np.frombuffer(self._bars_bytes(instrument, timeframe, n, include_forming), BAR_DTYPE)

    def _bars_bytes(self, instrument: str, timeframe: str, n: int, include_forming: bool) -> bytes | memoryview:
        """The wanted records, concatenated; always one round trip and one atomic read.

        ``n`` below the ring's capacity: :data:`BARS_LUA` (header and only the bars asked).
        Otherwise the whole ring is wanted: a plain GET (in a MULTI with the HGET of the
        forming bar), which spares the Lua string cost. The capacity is learnt from the
        header of each read of the key, so the first read of a key always takes the script.
        """
        key = self.keys.bars(instrument, timeframe)
        n = max(operator.index(n), 0)
        if n == 0 and not include_forming:
            return b""
        forming_key = self.keys.forming(instrument) if include_forming else None
        capacity = self._capacity.get(key)
        try:
            if capacity is not None and n >= capacity:
                bars, forming = self._whole_ring(key, n, forming_key, timeframe)
            else:
                bars, forming = self._ring_tail(key, n, forming_key, timeframe)
        except self._response_error as exc:
            raise self._bars_error(key, forming_key, exc) from exc
        if not forming:
            return bars
        if len(forming) != BAR_SIZE:
            raise StorageError(f"CORRUPT forming bar {forming_key} {timeframe}: {len(forming)} bytes")
        return b"".join((bars, forming))

    def _ring_tail(self, key: str, n: int, forming_key: str | None, timeframe: str) -> tuple[bytes, bytes]:
        if forming_key is None:
            head, older, newer, forming = self._read_bars(keys=(key,), args=(n,))
        else:
            head, older, newer, forming = self._read_bars(keys=(key, forming_key), args=(n, timeframe))
        self._ring_header(key, head)
        return (b"".join((older, newer)) if newer else older), forming

    def _whole_ring(self, key: str, n: int, forming_key: str | None,
                    timeframe: str) -> tuple[bytes | memoryview, bytes | None]:
        if forming_key is None:
            raw, forming = self.redis.get(key), None
        else:
            pipe = self.redis.pipeline(transaction=True)
            pipe.get(key)
            pipe.hget(forming_key, timeframe)
            raw, forming = pipe.execute()
        if raw is None:
            self._ring_header(key, b"")
            return b"", forming
        total, capacity = self._ring_header(key, raw[:RING_HEADER.size])
        stored = min(total, capacity)
        if len(raw) < RING_HEADER.size + stored * BAR_SIZE:
            raise StorageError(f"CORRUPT bars key {key}: {len(raw)} bytes for {stored} bars")
        k = min(n, stored)
        first = (total - k) % capacity
        view = memoryview(raw)
        start = RING_HEADER.size + first * BAR_SIZE
        if first + k <= capacity:
            return view[start:start + k * BAR_SIZE], forming
        wrapped = RING_HEADER.size + (first + k - capacity) * BAR_SIZE
        return b"".join((view[start:RING_HEADER.size + capacity * BAR_SIZE], view[RING_HEADER.size:wrapped])), forming

    def _ring_header(self, key: str, head: bytes) -> tuple[int, int]:
        """Check a ring header and remember the key's capacity; (0, 0) for a missing key."""
        try:
            header = ring_header(head)
        except ValueError as exc:
            raise StorageError(f"CORRUPT bars key {key}: {exc}") from None
        if header is None:
            self._capacity.pop(key, None)
            return 0, 0
        total, capacity = header
        self._capacity[key] = capacity
        return total, capacity

    def _bars_error(self, key: str, forming_key: str | None, exc: Exception) -> StorageError:
        """A Redis error of a bars read → a StorageError naming the key at fault."""
        text = str(exc)
        if text.startswith(("WRONGTYPE bars key", "WRONGTYPE forming-bar key", "CORRUPT ")):
            return StorageError(text)  # from BARS_LUA: already names the key
        if "WRONGTYPE" in text:
            for name, want, what in ((key, "string", "bars key"), (forming_key, "hash", "forming-bar key")):
                try:
                    kind = _text(self.redis.type(name)) if name else "none"
                except self._redis_error:
                    continue
                if kind not in (want, "none"):
                    return StorageError(f"WRONGTYPE {what} {name} holds a {kind}, not a "
                                        f"{'bar ring string' if want == 'string' else want}")
        return StorageError(f"reading bars {key}: {text}")

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
