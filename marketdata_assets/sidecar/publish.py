"""Batches → Redis, one ``MULTI``/``EXEC`` per commit, with a guard against lost state.

Each commit is one ``MULTI``/``EXEC`` holding, in order:

1. ``HMGET {p}:offsets <instruments>`` - the *guard*: the offsets as Redis has them when the
   transaction runs, which must equal what this process last committed. A mismatch means
   Redis lost or replaced its data behind a reconnect (a restart without persistence, an
   older snapshot) and the runner rebuilds that instrument instead of leaving a gap.
2. per batch: ``XADD <ms-seq> t <56 bytes>`` per tick and one ``XTRIM MAXLEN ~``, the ring
   ``SETRANGE``\\ s of the closed bars, ``HSET`` of their indicators, ``PUBLISH`` of their
   events, ``HSET`` of forming bars, last trade/quote, resume state and, last, the offset.
3. optionally the heartbeat.

Commits travel on a dedicated connection (:class:`CommitConnection`): the transaction is
packed into one buffer (ticks by a few byte joins, the rest by hiredis' C packer), written
in one go, and its replies are parsed by a hiredis reader. :meth:`RedisWriter.send` returns
as soon as the bytes are handed to the socket and :meth:`RedisWriter.receive` collects the
result later, so the runner prepares the next batch while Redis executes this one.

An XADD refused because its ID is not above the stream's top is a record already in
Redis (a replay): it is counted, not an error. Key names and codecs live in
:mod:`marketdata_assets.storage.live_keys` and
:mod:`marketdata_assets.storage.live_codec`.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field

import hiredis
from redis.asyncio import Redis
from redis.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from marketdata_assets.model.timeframes import TIMEFRAMES
from marketdata_assets.sidecar.pipeline import Batch
from marketdata_assets.storage.live_codec import (
    RING_HEADER,
    TICK_DTYPE,
    TICK_FIELD,
    fmt_float,
    ring_append_commands,
    ring_header,
)
from marketdata_assets.storage.live_keys import Keys

_pack = hiredis.pack_command
_MULTI, _EXEC = _pack(("MULTI",)), _pack(("EXEC",))
_TICK_SIZE = TICK_DTYPE.itemsize


@dataclass
class CommitResult:
    mismatched: dict[str, int | None] = field(default_factory=dict)  # instrument → offset Redis had
    duplicates: int = 0


@dataclass
class Inflight:
    """A transaction written to Redis whose replies have not been read yet."""

    batches: list[Batch]
    expected: dict[str, int | None]
    replies: int                      # replies to read: +OK, one +QUEUED per command, EXEC
    records: int


def _offset(value: bytes | None) -> int | None:
    return None if value is None else int(value)


class CommitConnection:
    """One plain Redis connection for commits: packed writes, replies parsed by hiredis.

    Opened from the same URL as the redis-py client (``redis://``, ``rediss://``,
    ``unix://``; user, password and db honoured). Any error closes it; the next
    :meth:`open` reconnects.
    """

    def __init__(self, url: str, connect_timeout_s: float = 2.0):
        self.params = parse_url(url)
        self.tls = url.startswith("rediss://")
        self.connect_timeout_s = connect_timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = hiredis.Reader(replyError=ResponseError)

    async def open(self) -> None:
        if self._writer is not None:
            return
        p = self.params
        async with asyncio.timeout(self.connect_timeout_s):
            if p.get("path"):
                self._reader, self._writer = await asyncio.open_unix_connection(p["path"])
            else:
                self._reader, self._writer = await asyncio.open_connection(
                    p.get("host", "127.0.0.1"), p.get("port", 6379),
                    ssl=ssl.create_default_context() if self.tls else None)
            self._parser = hiredis.Reader(replyError=ResponseError)
            hello: list[tuple] = []
            if p.get("password"):
                hello.append(("AUTH", p["username"], p["password"]) if p.get("username") else ("AUTH", p["password"]))
            if p.get("db"):
                hello.append(("SELECT", p["db"]))
            if hello:
                self.write(b"".join(_pack(c) for c in hello))
                for reply in await self.read(len(hello)):
                    if isinstance(reply, Exception):
                        self.close()
                        raise reply

    def write(self, payload: bytes) -> None:
        if self._writer is None:
            raise RedisConnectionError("commit connection is closed")
        self._writer.write(payload)

    async def read(self, n: int) -> list:
        """The next ``n`` replies (error replies as ResponseError objects, not raised)."""
        out: list = []
        parser, reader = self._parser, self._reader
        while True:
            while len(out) < n:
                reply = parser.gets()
                if reply is False:
                    break
                out.append(reply)
            if len(out) == n:
                return out
            data = await reader.read(1 << 20)
            if not data:
                self.close()
                raise RedisConnectionError("Redis closed the commit connection")
            parser.feed(data)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class RedisWriter:
    def __init__(self, redis: Redis, url: str, keys: Keys, stream_maxlen: int, bars_kept: int, heartbeat_ttl_s: int,
                 timeout_s: float = 5.0):
        """``redis`` and ``url`` name the same server: the pool for reads, ``url`` for commits."""
        self.redis = redis  # created without socket_timeout: every call here is bounded by timeout_s
        self.timeout_s = timeout_s
        self.keys = keys
        self.maxlen = stream_maxlen
        self.bars_kept = bars_kept
        self.heartbeat_ttl_s = max(1, heartbeat_ttl_s)
        self.conn = CommitConnection(url, redis.connection_pool.connection_kwargs.get("socket_connect_timeout") or 2.0)

    # -- commit --------------------------------------------------------------------------
    async def commit(self, batches: list[Batch], expected: dict[str, int | None],
                     heartbeat: dict | None = None) -> CommitResult:
        """Write ``batches`` (in order) in one transaction; ``expected`` = offsets before them."""
        return await self.receive(await self.send(batches, expected, heartbeat))

    async def send(self, batches: list[Batch], expected: dict[str, int | None],
                   heartbeat: dict | None = None) -> Inflight:
        """Write the transaction and return without waiting for Redis to answer."""
        instruments = list(expected)
        parts = [_MULTI, _pack(("HMGET", self.keys.offsets, *instruments))]
        commands = 1
        for batch in batches:
            commands += self._batch_commands(parts, batch)
        if heartbeat is not None:
            parts.append(_pack(("SET", self.keys.heartbeat, json.dumps(heartbeat), "EX", self.heartbeat_ttl_s)))
            commands += 1
        parts.append(_EXEC)
        try:
            await self.conn.open()
            self.conn.write(b"".join(parts))
        except BaseException:
            self.conn.close()
            raise
        return Inflight(batches, expected, commands + 2, sum(b.records for b in batches))

    async def receive(self, inflight: Inflight) -> CommitResult:
        """Read the replies of ``inflight``; raises on a connection error or timeout."""
        try:
            async with asyncio.timeout(self.timeout_s + inflight.replies * 1e-5):
                replies = await self.conn.read(inflight.replies)
        except BaseException:
            self.conn.close()  # a half-read transaction must not be reused
            raise
        results = replies[-1]
        if isinstance(results, Exception):  # EXECABORT: a command was refused while queuing
            queued = next((r for r in replies[1:-1] if isinstance(r, Exception)), results)
            raise queued
        if results is None:
            raise ResponseError("EXEC returned nil: transaction discarded")
        out = CommitResult()
        for inst, value in zip(inflight.expected, results[0], strict=True):
            if _offset(value) != inflight.expected[inst]:
                out.mismatched[inst] = _offset(value)
        for res in results[1:]:
            if isinstance(res, ResponseError):
                if "equal or smaller" in str(res):
                    out.duplicates += 1
                else:
                    raise res
        return out

    def _batch_commands(self, parts: list[bytes], b: Batch) -> int:
        """Append the packed commands of one batch to ``parts``; returns how many."""
        inst, k = b.instrument, self.keys
        t = b.ticks
        n = 0
        if len(t):
            key = k.ticks(inst).encode()
            head = b"*5\r\n$4\r\nXADD\r\n$%d\r\n%b\r\n" % (len(key), key)
            tail = b"\r\n$%d\r\n%b\r\n$%d\r\n" % (len(TICK_FIELD), TICK_FIELD, _TICK_SIZE)
            raw = t.packed()
            ids = [b"%d-%d" % pair for pair in zip(t.id_ms.tolist(), t.id_seq.tolist(), strict=True)]
            mv = memoryview(raw)
            parts.extend(b"%b$%d\r\n%b%b%b\r\n" % (head, len(i), i, tail, mv[j * _TICK_SIZE: (j + 1) * _TICK_SIZE])
                         for j, i in enumerate(ids))
            parts.append(_pack(("XTRIM", key, "MAXLEN", "~", self.maxlen)))
            n += len(ids) + 1
        by_tf: dict[str, list] = {}
        for c in b.closed:
            by_tf.setdefault(c.timeframe, []).append(c)
        for tf, closed in by_tf.items():
            cmds = ring_append_commands(k.bars(inst, tf), self.bars_kept, closed[0].seq,
                                        [c.packed() for c in closed])
            last = closed[-1]
            values = [x for name, v in last.indicators.items() for x in (name, fmt_float(v))]
            cmds.append(("HSET", k.indicators(inst, tf), "ts", last.bar.start, *values))
            parts.extend(map(_pack, cmds))
            n += len(cmds)
        if b.closed:
            channel = k.bar_events(inst)
            parts.extend(_pack(("PUBLISH", channel, json.dumps(c.event(inst)))) for c in b.closed)
            n += len(b.closed)
        cmds = []
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
        parts.extend(map(_pack, cmds))
        return n + len(cmds)

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
            await self.conn.open()

    async def load_state(self, instrument: str) -> dict[bytes, bytes] | None:
        async with asyncio.timeout(self.timeout_s):
            fields = await self.redis.hgetall(self.keys.state(instrument))
        return fields or None

    async def rings(self, instrument: str) -> dict[str, tuple[int, int] | None]:
        """Per timeframe, the (bars appended, capacity) header of its bar ring (None: no ring)."""
        pipe = self.redis.pipeline(transaction=False)
        for tf in TIMEFRAMES:
            pipe.getrange(self.keys.bars(instrument, tf), 0, RING_HEADER.size - 1)
        async with asyncio.timeout(self.timeout_s):
            heads = await pipe.execute(raise_on_error=False)
        out: dict[str, tuple[int, int] | None] = {}
        for tf, head in zip(TIMEFRAMES, heads, strict=True):
            try:  # a wrong type or a corrupt header counts as no ring: the caller rebuilds
                out[tf] = ring_header(head) if isinstance(head, bytes) else None
            except ValueError:
                out[tf] = None
        return out

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

    async def aclose(self) -> None:
        self.conn.close()

