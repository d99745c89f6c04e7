"""The sidecar loop: tail files → batches → Redis, surviving crashes and Redis outages.

One asyncio task does everything in turn (no locks): discover files, (re)connect to Redis,
restore instruments, read appended records into batches, commit them, beat the heart.

Durability, exactly once:

- Resume state (offset, file fingerprint, forming bars, indicator state, last stream ID)
  is committed in the same ``MULTI`` as the data it covers (see :mod:`.publish`). After a
  crash (even SIGKILL) the sidecar loads it and continues at that offset: nothing is
  missed and nothing is written twice. Stream IDs come from the record timestamps, so a
  replay would be refused by XADD anyway.
- Redis outage: batches wait in memory up to ``buffer_max`` records, then reading pauses
  (the file is the source of truth). Reconnects back off from 0.1 s to 5 s. On reconnect
  the offsets in Redis are compared with what was committed: equal → the buffer is
  flushed; equal to the end of the batch whose EXEC got no answer → it was applied;
  anything else (a Redis that restarted empty or from an older snapshot) → the instrument
  is restored from whatever consistent state Redis has, or rebuilt from the start of the
  file. The same check runs with every heartbeat and, as a guard, inside every commit.
- A file that shrank or was replaced is re-read from its start, its keys rebuilt.
- SIGTERM: stop reading new data after a final drain (bounded), commit, write a
  ``stopped`` heartbeat, exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import deque

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from marketdata_assets.errors import CorruptFile, MarketDataError
from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.sidecar.config import SidecarConfig
from marketdata_assets.sidecar.feed import Feed
from marketdata_assets.sidecar.http import Hub, Metrics
from marketdata_assets.sidecar.pipeline import Batch, InstrumentPipeline
from marketdata_assets.sidecar.publish import Inflight, RedisWriter
from marketdata_assets.sidecar.tail import FileReplaced, ScidTail, Watcher, discover
from marketdata_assets.sources.sierra.scid import RECORD_SIZE, resume_offset
from marketdata_assets.storage.live_keys import Keys

log = logging.getLogger(__name__)
_BACKOFF_MIN_S, _BACKOFF_MAX_S = 0.1, 5.0


class Runner:
    def __init__(self, cfg: SidecarConfig, metrics: Metrics | None = None, hub: Hub | None = None):
        self.cfg = cfg
        self.metrics = metrics or Metrics()
        self.hub = hub or Hub(self.metrics)
        self.keys = Keys(cfg.prefix)
        # No socket_timeout: RedisWriter bounds every call with asyncio.timeout instead (a
        # per-reply timeout costs more than the XADD itself). No retries: a failed call must
        # go through _verify before anything else is written.
        self.redis = Redis.from_url(cfg.redis_url, socket_timeout=None, socket_connect_timeout=2.0,
                                    retry=Retry(NoBackoff(), 0), health_check_interval=0)
        self.writer = RedisWriter(self.redis, cfg.redis_url, self.keys, cfg.stream_maxlen, cfg.bars_kept,
                                  cfg.heartbeat_stale_s)
        self.watcher = Watcher(cfg.data_dir, cfg.poll_ms)
        self.feeds: dict[str, Feed] = {}
        self.pending: deque[Batch] = deque()   # read, not sent yet
        self.pending_records = 0
        self.inflight: Inflight | None = None   # sent, replies not read yet (at most one)
        self.redis_ok = False
        self.redis_error: str | None = "not connected yet"
        self.redis_checked = False        # offsets compared since the last (re)connect
        self.paused = False
        self.stopping = asyncio.Event()
        self._backoff = _BACKOFF_MIN_S
        self._next_connect = 0.0
        self._next_scan = 0.0
        self._next_beat = 0.0
        self._started = time.time()

    # -- main loop -------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask :meth:`run` to drain and return (safe from a signal handler)."""
        self.stopping.set()
        self.watcher.kick()

    async def run(self) -> None:
        self.watcher.start()
        log.info("tailing %s (%s), Redis %s prefix %r", self.cfg.data_dir, self.watcher.mode,
                 _safe_url(self.cfg.redis_url), self.cfg.prefix)
        try:
            while not self.stopping.is_set():
                if await self.step() == 0 and not self.stopping.is_set():
                    await self._guard(self._finish())  # nothing to overlap with: settle the commit now
                    await self.watcher.wait()
            await self.drain()
        finally:
            self.watcher.close()
            for feed in self.feeds.values():
                feed.tail.close()
            await self.aclose()

    @property
    def buffered(self) -> int:
        """Records read from the files and not confirmed in Redis (pending + in flight)."""
        return self.pending_records + (self.inflight.records if self.inflight else 0)

    async def aclose(self) -> None:
        """Close both Redis connections (the pool and the commit connection)."""
        await self.writer.aclose()
        await self.redis.aclose()

    async def step(self) -> int:
        """One turn; returns the number of records read.

        Reading and processing come first: they overlap with Redis executing the commit
        the previous turn left in flight. Its replies are collected before any other Redis
        call, and this turn's commit is left in flight in turn.
        """
        now = time.monotonic()
        if now >= self._next_scan:
            self._discover()
            self._next_scan = now + self.cfg.rescan_every_s
        read = self._read()
        if self.redis_ok:
            await self._guard(self._finish())
        if not self.redis_ok and now >= self._next_connect:
            await self._connect()
        if self.redis_ok and not self.redis_checked:
            await self._verify()
        if self.redis_ok:
            for feed in self.feeds.values():
                if not feed.ready and now >= feed.next_check:
                    if await self._guard(self._restore(feed)) and feed.ready:
                        self.watcher.kick()  # read it on the next turn without waiting
        if self.redis_ok:
            await self._flush()
        if self.redis_ok and time.monotonic() >= self._next_beat:
            if await self._guard(self._finish()):
                await self._guard(self._heartbeat())
        return read

    async def drain(self) -> None:
        """On shutdown: commit every record appended before the stop (within ``shutdown_timeout_s``)."""
        deadline = time.monotonic() + self.cfg.shutdown_timeout_s
        targets = {}
        for feed in self.feeds.values():
            try:
                targets[feed.instrument] = os.stat(feed.path).st_size
            except OSError:
                continue
        while time.monotonic() < deadline:
            await self.step()
            if not self.redis_ok:
                await asyncio.sleep(min(self._backoff, max(0.0, deadline - time.monotonic())))
                continue
            behind = [f for f in self.feeds.values() if f.ready and f.instrument in targets
                      and f.tail.offset + RECORD_SIZE <= targets[f.instrument]]
            if not behind and not self.pending:
                break
        if self.redis_ok:
            await self._guard(self._finish())
        if self.buffered:
            log.warning("stopping with %d records not in Redis; they are re-read at the next start",
                        self.buffered)
        if self.redis_ok:
            await self._guard(self._heartbeat(status="stopped"))
        log.info("stopped; offsets %s", {f.instrument: f.committed for f in self.feeds.values()})

    # -- files -----------------------------------------------------------------------------
    def _discover(self) -> None:
        try:
            found = discover(self.cfg.data_dir, self.cfg.instruments)
        except OSError as exc:
            log.error("cannot list %s: %s", self.cfg.data_dir, exc.strerror)
            return
        for inst, path in found.items():
            if inst not in self.feeds:
                self.feeds[inst] = Feed(inst, path, ScidTail(path))
                log.info("instrument %s: %s", inst, path.name)
        for feed in self.feeds.values():
            if feed.ready and time.monotonic() >= feed.next_check:
                feed.next_check = time.monotonic() + self.cfg.rescan_every_s
                try:
                    feed.tail.check_identity(feed.pipeline.fingerprint)
                except FileReplaced as exc:
                    self._unready(feed, str(exc), rebuild=True)

    def _unready(self, feed: Feed, why: str, rebuild: bool = False) -> None:
        log.warning("%s: %s%s", feed.instrument, why, "; rebuilding from the start of the file" if rebuild else "")
        feed.error = why
        feed.ready = False
        feed.rebuild = feed.rebuild or rebuild
        self._drop_pending(feed.instrument)
        feed.tail.close()

    def _read(self) -> int:
        total = 0
        self.paused = False
        for feed in self.feeds.values():
            if not feed.ready:
                continue
            room = self.cfg.buffer_max - self.buffered
            if room <= 0:
                self.paused = True
                break
            try:
                if feed.pipeline.fingerprint is None:
                    feed.pipeline.fingerprint = feed.tail.fingerprint()
                records, start = feed.tail.read(min(room, self.cfg.read_chunk))
            except FileReplaced as exc:
                self._unready(feed, str(exc), rebuild=True)
                continue
            except OSError as exc:
                self._unready(feed, f"read failed: {exc.strerror}")
                continue
            if not len(records):
                continue
            batch = feed.pipeline.process(records, start)
            feed.tail.advance(len(records))
            if batch.invalid:
                self._invalid(feed, batch)
            self.pending.append(batch)
            self.pending_records += batch.records
            total += batch.records
            if len(batch.ticks):
                feed.last_tick_us = int(batch.ticks.ts[-1])
            self._meter(feed, "in").inc(batch.records)
        self.metrics.buffered.set(self.buffered)
        return total

    def _invalid(self, feed: Feed, batch: Batch) -> None:
        """Records whose DateTime decodes to no instant: counted, logged once per file, left out."""
        self.metrics.invalid_records.labels(feed.instrument).inc(batch.invalid)
        if not feed.invalid_logged:
            feed.invalid_logged = True
            log.warning("%s: %d record(s) with an invalid time between bytes %d and %d left out of Redis "
                        "(counted in marketdata_sidecar_invalid_records_total; not logged again for this file)",
                        feed.path, batch.invalid, batch.start_offset, batch.end_offset)

    def _drop_pending(self, instrument: str) -> None:
        kept = deque(b for b in self.pending if b.instrument != instrument)
        self.pending_records = sum(b.records for b in kept)
        self.pending = kept
        self.metrics.buffered.set(self.buffered)

    # -- Redis ---------------------------------------------------------------------------
    async def _guard(self, coro) -> bool:
        """Run a Redis coroutine; on failure mark Redis down and schedule a reconnect."""
        try:
            await coro
            return True
        except (RedisError, OSError) as exc:
            self._redis_failed(exc)
            return False

    def _redis_failed(self, exc: Exception) -> None:
        self.metrics.redis_errors.inc()
        self.redis_ok, self.redis_checked = False, False
        self.redis_error = f"{type(exc).__name__}: {exc}"
        self._next_connect = time.monotonic() + self._backoff
        log.warning("Redis unavailable (%s); retrying in %.1fs, %d records buffered",
                    self.redis_error, self._backoff, self.buffered)
        self._backoff = min(self._backoff * 2, _BACKOFF_MAX_S)

    async def _connect(self) -> None:
        async def ping() -> None:
            await self.writer.ping()
            self.redis_ok, self.redis_error = True, None
            self._backoff = _BACKOFF_MIN_S
            log.info("Redis connected")

        await self._guard(ping())

    async def _verify(self) -> None:
        """After a (re)connect: does Redis hold what we committed? Settle every instrument."""
        ready = [f for f in self.feeds.values() if f.ready]

        async def check() -> None:
            offsets = await self.writer.offsets(f.instrument for f in ready)
            for feed in ready:
                await self._settle(feed, offsets[feed.instrument])
            self.redis_checked = True

        await self._guard(check())

    async def _settle(self, feed: Feed, in_redis: int | None) -> None:
        if in_redis == feed.committed:
            return
        ends = [b.end_offset for b in self.pending if b.instrument == feed.instrument]
        if in_redis is not None and in_redis in ends:  # the unanswered EXEC did apply
            self._commit_done(self._pop_upto(feed.instrument, in_redis))
            return
        self.metrics.resets.labels("redis_state_changed").inc()
        log.warning("%s: Redis holds offset %s, expected %s; restoring from Redis", feed.instrument,
                    in_redis, feed.committed)
        self._drop_pending(feed.instrument)
        feed.ready = False
        await self._restore(feed)

    def _pop_upto(self, instrument: str, end: int) -> list[Batch]:
        done, kept = [], deque()
        reached = False
        for b in self.pending:
            if b.instrument == instrument and not reached:
                done.append(b)
                reached = b.end_offset == end
            else:
                kept.append(b)
        self.pending = kept
        self.pending_records = sum(b.records for b in kept)
        return done

    async def _restore(self, feed: Feed) -> None:
        """Open the file and position it at the state Redis holds (or at its start)."""
        inst = feed.instrument
        try:
            feed.tail.open()
        except (OSError, CorruptFile) as exc:
            feed.error = str(exc) if isinstance(exc, MarketDataError) else f"cannot open: {exc.strerror}"
            feed.next_check = time.monotonic() + self.cfg.rescan_every_s
            return
        try:
            pipeline = InstrumentPipeline(inst, market_for_instrument(inst, self.cfg.instrument_markets))
        except MarketDataError as exc:
            feed.error = str(exc)
            feed.next_check = time.monotonic() + self.cfg.rescan_every_s
            return
        scratch = feed.rebuild
        fields = None if scratch else await self.writer.load_state(inst)
        fp_now = feed.tail.fingerprint()
        offset = None
        if fields is not None:
            try:
                saved = pipeline.load(fields)
            except (MarketDataError, KeyError, ValueError) as exc:
                log.error("%s: unreadable resume state (%s); rebuilding", inst, exc)
                saved = None
                self.metrics.resets.labels("state_unreadable").inc()
            start, reset = resume_offset(feed.tail.header_size, feed.tail.size, fp_now or "", saved,
                                         pipeline.fingerprint or "")
            offset = None if reset else start
            if reset and saved is not None:
                self.metrics.resets.labels("file_changed").inc()
            elif saved is not None and not await self._rings_match(pipeline):
                offset = None
                self.metrics.resets.labels("bars_layout").inc()
        elif scratch:
            self.metrics.resets.labels("rebuild").inc()
        if offset is None:
            await self.writer.clear(inst)
            pipeline = InstrumentPipeline(inst, pipeline.market)
            pipeline.fingerprint = fp_now
            feed.committed = None
            feed.tail.seek(feed.tail.header_size)
        else:
            feed.committed = offset
            feed.tail.seek(offset)
        feed.pipeline, feed.ready, feed.error, feed.rebuild = pipeline, True, None, False
        feed.next_check = time.monotonic() + self.cfg.rescan_every_s
        log.info("%s: resuming at byte %d of %d", inst, feed.tail.offset, feed.tail.size)

    async def _rings_match(self, pipeline: InstrumentPipeline) -> bool:
        """Do the bar rings in Redis hold what the resume state says, at the configured size?"""
        for tf, head in (await self.writer.rings(pipeline.instrument)).items():
            closed = pipeline.closed_count[tf]
            if (head is None and closed) or (head is not None and head != (closed, self.cfg.bars_kept)):
                log.warning("%s: %s bar ring %s does not match %d bars closed at %d kept; rebuilding",
                            pipeline.instrument, tf, head, closed, self.cfg.bars_kept)
                return False
        return True

    async def _flush(self) -> None:
        """Send the pending batches, ``commit_max`` records per transaction, one in flight at a time."""
        while self.pending and self.redis_ok:
            if not await self._guard(self._finish()) or not self.pending:
                break
            group, records = [], 0
            while self.pending and (not group or records + self.pending[0].records <= self.cfg.commit_max):
                b = self.pending.popleft()
                group.append(b)
                records += b.records
            self.pending_records -= records
            expected = {}
            for b in group:
                expected.setdefault(b.instrument, self.feeds[b.instrument].committed)
            beat = self._beat() if time.monotonic() >= self._next_beat else None
            try:
                self.inflight = await self.writer.send(group, expected, beat)
            except (RedisError, OSError) as exc:
                self._requeue(group)
                self._redis_failed(exc)
                return
            if beat is not None:
                self._next_beat = time.monotonic() + self.cfg.heartbeat_every_s
        self.metrics.buffered.set(self.buffered)

    def _requeue(self, batches: list[Batch]) -> None:
        self.pending.extendleft(reversed(batches))
        self.pending_records += sum(b.records for b in batches)

    async def _finish(self) -> None:
        """Collect the replies of the commit in flight, if any, and act on them.

        On a Redis error its batches go back to the front of the queue (raised to
        :meth:`_guard`); whether that EXEC applied is settled by :meth:`_verify`.
        """
        inflight, self.inflight = self.inflight, None
        if inflight is None:
            return
        try:
            result = await self.writer.receive(inflight)
        except BaseException:
            self._requeue(inflight.batches)
            raise
        self.metrics.duplicates.inc(result.duplicates)
        good = [b for b in inflight.batches if b.instrument not in result.mismatched]
        self._commit_done(good)
        for inst, in_redis in result.mismatched.items():
            feed = self.feeds[inst]
            self.metrics.resets.labels("redis_state_lost").inc()
            log.warning("%s: Redis had offset %s instead of %s when committing; rebuilding", inst,
                        in_redis, feed.committed)
            self._drop_pending(inst)
            feed.ready, feed.rebuild = False, True
            await self._restore(feed)

    def _commit_done(self, batches: list[Batch]) -> None:
        now = time.monotonic()
        for b in batches:
            feed = self.feeds[b.instrument]
            feed.committed = b.end_offset
            self._meter(feed, "out").inc(b.records)
            self.metrics.lag.observe(now - b.read_at)
            for c in b.closed:
                self.metrics.bars_closed.labels(c.timeframe).inc()
            late = feed.pipeline.builder.late
            if late != feed.late_seen:
                self.metrics.late.labels(b.instrument).set(late)
                feed.late_seen = late
        self.metrics.buffered.set(self.buffered)
        self.hub.publish(batches)

    def _meter(self, feed: Feed, which: str):
        """The feed's labelled ticks counter (``labels()`` costs microseconds; it is looked up once)."""
        meter = feed.meters.get(which)
        if meter is None:
            family = self.metrics.ticks_in if which == "in" else self.metrics.ticks_out
            meter = feed.meters[which] = family.labels(feed.instrument)
        return meter

    def _beat(self, status: str = "running") -> dict:
        return {"ts_us": int(time.time() * 1e6), "pid": os.getpid(), "host": socket.gethostname(),
                "status": status, "started_us": int(self._started * 1e6),
                "instruments": sorted(self.feeds)}

    async def _heartbeat(self, status: str = "running") -> None:
        ready = [f for f in self.feeds.values() if f.ready]
        offsets = await self.writer.heartbeat(self._beat(status), [f.instrument for f in ready])
        self._next_beat = time.monotonic() + self.cfg.heartbeat_every_s
        if status == "running":
            for feed in ready:
                await self._settle(feed, offsets[feed.instrument])

    # -- status ----------------------------------------------------------------------------
    def status(self) -> tuple[bool, dict]:
        now_us = time.time() * 1e6
        instruments = {}
        for feed in self.feeds.values():
            instruments[feed.instrument] = feed.health(now_us)
        ok = self.redis_ok and all(f.ready for f in self.feeds.values())
        return ok, {
            "status": "ok" if ok else "degraded",
            "redis": {"connected": self.redis_ok, "error": self.redis_error},
            "source": {"data_dir": str(self.cfg.data_dir), "wakeup": self.watcher.mode},
            "buffered_records": self.buffered, "buffer_max": self.cfg.buffer_max,
            "reading_paused": self.paused,
            "instruments": instruments,
        }


def _safe_url(url: str) -> str:
    """The Redis URL without a password, for logs."""
    if "@" in url:
        scheme, rest = url.split("://", 1) if "://" in url else ("redis", url)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
