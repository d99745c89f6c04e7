"""Batches → Redis, one ``MULTI``/``EXEC`` per commit, with a guard against lost state.

Each commit is one ``MULTI``/``EXEC`` (sent as a single pre-packed write) holding, in order:

1. ``HMGET {p}:offsets <instruments>`` - the *guard*: the offsets as Redis has them when the
   transaction runs, which must equal what this process last committed. A mismatch means
   Redis lost or replaced its data behind a reconnect (a restart without persistence, an
   older snapshot) and the runner rebuilds that instrument instead of leaving a gap.
2. per batch: ``XADD … MAXLEN ~ n <ms-seq>`` per tick, ``ZADD`` + ``ZREMRANGEBYRANK`` of the
   closed bars, ``PUBLISH`` of their events, ``HSET`` of indicators, forming bars, last
   trade/quote, resume state and, last, the offset.
3. optionally the heartbeat.

An XADD refused because its ID is not above the stream's top is a record already in
Redis (a replay): it is counted, not an error. Key names and codecs live in
:mod:`marketdata_assets.storage.live_cache`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from marketdata_assets.model.timeframes import TIMEFRAMES
from marketdata_assets.sidecar.pipeline import Batch
from marketdata_assets.storage.live_cache import Keys, fmt_float

try:
    from hiredis import pack_command as _pack
except ImportError:  # pragma: no cover - redis[hiredis] is a dependency
    def _pack(args: tuple) -> bytes:
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)

_KIND = ("quote", "trade")
_SIDE = ("", "buy", "sell")


@dataclass
class CommitResult:
    mismatched: dict[str, int | None] = field(default_factory=dict)  # instrument → offset Redis had
    duplicates: int = 0


def _offset(value: bytes | None) -> int | None:
    return None if value is None else int(value)


class RedisWriter:
    def __init__(self, redis: Redis, keys: Keys, stream_maxlen: int, bars_kept: int, heartbeat_ttl_s: int,
                 timeout_s: float = 5.0):
        self.redis = redis  # created without socket_timeout: every call here is bounded by timeout_s
        self.timeout_s = timeout_s
        self.keys = keys
        self.maxlen = stream_maxlen
        self.bars_kept = bars_kept
        self.heartbeat_ttl_s = max(1, heartbeat_ttl_s)

    # -- commit --------------------------------------------------------------------------
    async def commit(self, batches: list[Batch], expected: dict[str, int | None],
                     heartbeat: dict | None = None) -> CommitResult:
        """Write ``batches`` (in order) in one transaction; ``expected`` = offsets before them.

        The transaction is packed into one buffer (hiredis' C packer) and sent on a pooled
        redis-py connection in one write; the replies are read back one by one. This skips
        redis-py's per-command Python packing, the bottleneck at tens of thousands of
        XADDs per second.
        """
        instruments = list(expected)
        commands: list[tuple] = [("HMGET", self.keys.offsets, *instruments)]
        for batch in batches:
            self._batch_commands(commands, batch)
        if heartbeat is not None:
            commands.append(("SET", self.keys.heartbeat, json.dumps(heartbeat), "EX", self.heartbeat_ttl_s))
        async with asyncio.timeout(self.timeout_s + len(commands) * 1e-5):
            results = await self._transaction(commands)
        out = CommitResult()
        for inst, value in zip(instruments, results[0], strict=True):
            if _offset(value) != expected[inst]:
                out.mismatched[inst] = _offset(value)
        for res in results[1:]:
            if isinstance(res, ResponseError) and "equal or smaller" in str(res):
                out.duplicates += 1
            elif isinstance(res, Exception):
                raise res
        return out

    async def _transaction(self, commands: list[tuple]) -> list:
        payload = b"".join([_pack(("MULTI",)), *map(_pack, commands), _pack(("EXEC",))])
        pool = self.redis.connection_pool
        try:
            conn = await pool.get_connection()
        except TypeError:  # redis-py < 5.3 wants a command name
            conn = await pool.get_connection("MULTI")
        try:
            await conn.send_packed_command(payload, check_health=False)
            for _ in range(len(commands) + 1):  # +OK, then +QUEUED per command
                await conn.read_response()
            results = await conn.read_response()
        except BaseException:
            await conn.disconnect()  # a half-read transaction must not be reused
            raise
        finally:
            await pool.release(conn)
        if results is None:
            raise ResponseError("EXEC returned nil: transaction discarded")
        return results

    def _batch_commands(self, cmds: list[tuple], b: Batch) -> None:
        inst, k = b.instrument, self.keys
        t = b.ticks
        if len(t):
            key, maxlen = k.ticks(inst), self.maxlen
            for ms, seq, ts, trade, p, size, bid, ask, side, n, sub, off in zip(
                t.id_ms.tolist(), t.id_seq.tolist(), t.ts.tolist(), t.trade.tolist(), t.price.tolist(),
                t.size.tolist(), t.bid.tolist(), t.ask.tolist(), t.side.tolist(), t.num_trades.tolist(),
                t.sub_trade.tolist(), t.offset.tolist(), strict=True,
            ):
                cmds.append(("XADD", key, "MAXLEN", "~", maxlen, f"{ms}-{seq}", "ts", ts, "kind", _KIND[trade],
                             "price", repr(p) if trade else "", "size", size, "bid", repr(bid), "ask", repr(ask),
                             "side", _SIDE[side], "num_trades", n, "sub_trade", sub, "offset", off))
        by_tf: dict[str, list] = {}
        for c in b.closed:
            by_tf.setdefault(c.timeframe, []).append(c)
        for tf, closed in by_tf.items():
            bars_key = k.bars(inst, tf)
            args: list = []
            for c in closed:
                args += [c.bar.start, c.packed()]
            cmds.append(("ZADD", bars_key, *args))
            cmds.append(("ZREMRANGEBYRANK", bars_key, 0, -(self.bars_kept + 1)))
            last = closed[-1]
            values = [x for name, v in last.indicators.items() for x in (name, fmt_float(v))]
            cmds.append(("HSET", k.indicators(inst, tf), "ts", last.bar.start, *values))
        if b.closed:
            channel = k.bar_events(inst)
            cmds.extend(("PUBLISH", channel, json.dumps(c.event(inst))) for c in b.closed)
        forming = [x for tf, raw in b.forming.items() if raw is not None for x in (tf, raw)]
        if forming:
            cmds.append(("HSET", k.forming(inst), *forming))
        gone = [tf for tf, raw in b.forming.items() if raw is None]
        if gone:
            cmds.append(("HDEL", k.forming(inst), *gone))
        if b.last:
            cmds.append(("HSET", k.last(inst), *(x for kv in b.last.items() for x in kv)))
        cmds.append(("HSET", k.state(inst), *(x for kv in b.state.items() for x in kv)))
        cmds.append(("HSET", k.offsets, inst, b.end_offset))

    # -- state ---------------------------------------------------------------------------
    async def offsets(self, instruments: Iterable[str]) -> dict[str, int | None]:
        names = list(instruments)
        if not names:
            return {}
        async with asyncio.timeout(self.timeout_s):
            values = await self.redis.hmget(self.keys.offsets, names)
        return {n: _offset(v) for n, v in zip(names, values, strict=True)}

    async def ping(self) -> None:
        async with asyncio.timeout(self.timeout_s):
            await self.redis.ping()

    async def load_state(self, instrument: str) -> dict[bytes, bytes] | None:
        async with asyncio.timeout(self.timeout_s):
            fields = await self.redis.hgetall(self.keys.state(instrument))
        return fields or None

    async def clear(self, instrument: str) -> None:
        """Delete every key of ``instrument`` and its offset, atomically."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(*self.keys.instrument_keys(instrument, TIMEFRAMES))
        pipe.hdel(self.keys.offsets, instrument)
        async with asyncio.timeout(self.timeout_s):
            await pipe.execute()

    async def heartbeat(self, beat: dict, instruments: list[str]) -> dict[str, int | None]:
        """Write the heartbeat and read the offsets (the caller compares them) in one round trip."""
        pipe = self.redis.pipeline(transaction=True)
        if instruments:
            pipe.hmget(self.keys.offsets, instruments)
        pipe.set(self.keys.heartbeat, json.dumps(beat), ex=self.heartbeat_ttl_s)
        async with asyncio.timeout(self.timeout_s):
            results = await pipe.execute()
        if not instruments:
            return {}
        return {n: _offset(v) for n, v in zip(instruments, results[0], strict=True)}
