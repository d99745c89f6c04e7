"""The sidecar's depth feed: tail ``.depth`` files, keep the live book of each instrument in Redis.

For each instrument it follows the UTC-day files ``<symbol>.<YYYY-MM-DD>.depth`` of the
depth directory in day order, reads whole batches only (a batch not closed yet waits for
the next read), screens and replays them with the same code as the batch path
(:func:`~marketdata_assets.transforms.book.screen_events`,
:func:`~marketdata_assets.transforms.book.replay_book`), so the book in Redis is exactly
the batch reconstruction of the same records as of the last end-of-batch read. Every
end-of-batch reaches the subscribers: a read that closes several batches publishes the
book at each of them, in order, on ``{p}:events:book:{i}`` and to the ``/ws`` clients
subscribed to ``book`` events (the messages come from the kernel's per-batch output,
:class:`~marketdata_assets.transforms.book.BatchBooks`, encoded in one compiled pass,
:mod:`~marketdata_assets.storage.live_book_codec`).

The latest book (top N per side), the top of book, the resume state (file, fingerprint,
offset, whole book) and the publication of the books go to Redis in one ``MULTI`` per
:data:`COMMIT_BATCHES` batch ends at most (a catch-up read commits in steps, each a valid
resume point); the in-memory state moves only after ``EXEC``. A restart resumes from that
state when the file still matches it; otherwise (first start, file replaced or shrunk) the
book is rebuilt from the start of the second-latest file, the latest file then continuing
from the book it ended with. Key layout: :mod:`marketdata_assets.storage.live_book`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from prometheus_client import CollectorRegistry, Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from marketdata_assets.errors import CorruptFile
from marketdata_assets.sources.sierra.depth import parse_depth_name, probe_depth, read_depth, utc_day_bounds
from marketdata_assets.sources.sierra.depth_discovery import scan_depth_directory
from marketdata_assets.storage.live_book import BookKeys
from marketdata_assets.storage.live_book_codec import encode_books, last_message
from marketdata_assets.transforms.book import MISSING_LEVEL, REASONS, BookState, replay_book, screen_events

log = logging.getLogger(__name__)
COMMIT_BATCHES = 2_000   # batch ends per MULTI: Redis runs a commit in ~1-5 ms, other clients wait meanwhile
# PUBLISH each line of ARGV[1] (one book per line, each ending in a newline) in order, inside
# the MULTI: one command per commit instead of one per book (which would cost more than the
# replay). When nobody is subscribed, by channel or by pattern, at that instant (the script
# runs atomically), a PUBLISH would reach no one, so none is made.
PUBLISH_LINES = """
if redis.call('PUBSUB', 'NUMSUB', KEYS[1])[2] == 0 and redis.call('PUBSUB', 'NUMPAT') == 0 then
  return 0
end
local lines, pos, n = ARGV[1], 1, 0
while pos <= #lines do
  local stop = string.find(lines, "\\n", pos, true)
  redis.call('PUBLISH', KEYS[1], string.sub(lines, pos, stop - 1))
  pos, n = stop + 1, n + 1
end
return n
"""


@dataclass
class BookFeed:
    instrument: str
    files: list = field(default_factory=list)    # DepthFile, day order
    path: Path | None = None
    offset: int | None = None
    fingerprint: str | None = None
    last_ts: int | None = None                    # latest valid time read (time-backwards rule)
    book: BookState = field(default_factory=BookState.empty)
    book_ts: int | None = None                    # time of the end-of-batch the book is at
    ready: bool = False
    error: str | None = None


class DepthMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.records = Counter("marketdata_sidecar_depth_records", "Depth records read", ["instrument"],
                               registry=registry)
        self.updates = Counter("marketdata_sidecar_depth_book_updates", "Book updates committed to Redis",
                               ["instrument"], registry=registry)
        self.quarantined = Counter("marketdata_sidecar_depth_quarantined", "Depth records left out of the book",
                                   ["reason"], registry=registry)
        self.errors = Counter("marketdata_sidecar_depth_errors", "Depth feed errors (file or Redis)", registry=registry)


class DepthFeeder:
    def __init__(self, depth_dir: Path, redis_url: str, prefix: str, levels: int = 10,
                 instruments: tuple[str, ...] = (), poll_s: float = 0.05, hub=None,
                 registry: CollectorRegistry | None = None):
        self.depth_dir, self.levels, self.instruments, self.poll_s = Path(depth_dir), levels, instruments, poll_s
        self.keys = BookKeys(prefix)
        self.redis = Redis.from_url(redis_url, socket_connect_timeout=2.0, socket_timeout=5.0)
        self.hub = hub
        self.metrics = DepthMetrics(registry or CollectorRegistry())
        self.feeds: dict[str, BookFeed] = {}
        self.redis_error: str | None = None
        self._retry_at, self._backoff = 0.0, 0.1   # after a Redis error: wait 0.1 s doubling to 5 s

    # -- loop --------------------------------------------------------------------------------
    async def run(self, stopping: asyncio.Event) -> None:
        log.info("depth: tailing %s", self.depth_dir)
        try:
            while not stopping.is_set():
                if await self.step() == 0:
                    try:
                        await asyncio.wait_for(stopping.wait(), self.poll_s)
                    except TimeoutError:
                        pass
        finally:
            await self.redis.aclose()

    async def step(self) -> int:
        """Discover files, then read and commit what each instrument's file gained (nothing is
        read while Redis is down: the file is the source of truth, no records are buffered)."""
        if time.monotonic() < self._retry_at:
            return 0
        self._discover()
        read = 0
        for feed in self.feeds.values():
            try:
                if not feed.ready:
                    await self._restore(feed)
                read += await self._advance(feed)
                self.redis_error, self._backoff = None, 0.1
            except RedisError as exc:
                self.metrics.errors.inc()
                self.redis_error = f"{type(exc).__name__}"
                feed.ready = False          # re-read the state Redis holds once it is back
                self._retry_at = time.monotonic() + self._backoff
                self._backoff = min(5.0, self._backoff * 2)
                log.warning("depth: Redis unavailable (%s); retrying in %.1fs", self.redis_error,
                            self._retry_at - time.monotonic())
                break
            except (CorruptFile, OSError) as exc:
                self.metrics.errors.inc()
                feed.error, feed.ready = str(exc), False
        return read

    def _discover(self) -> None:
        by_instrument: dict[str, list] = {}
        for f in scan_depth_directory(self.depth_dir):
            if f.instrument is None or (self.instruments and f.instrument not in self.instruments):
                continue
            by_instrument.setdefault(f.instrument, []).append(f)
        for inst, files in by_instrument.items():
            feed = self.feeds.setdefault(inst, BookFeed(inst))
            feed.files = sorted(files, key=lambda f: f.day)

    # -- state -------------------------------------------------------------------------------
    async def _restore(self, feed: BookFeed) -> None:
        state = {k.decode(): v.decode() for k, v in (await self.redis.hgetall(self.keys.state(feed.instrument))).items()}
        known = {str(f.path): f for f in feed.files}
        if state.get("file") in known:
            _, size, fingerprint = probe_depth(state["file"])
            if fingerprint == state["fingerprint"] and size >= int(state["offset"]):
                feed.path, feed.offset, feed.fingerprint = Path(state["file"]), int(state["offset"]), fingerprint
                feed.last_ts = int(state["last_ts"]) if state.get("last_ts") else None
                levels = json.loads(state["levels"])
                feed.book = BookState(np.array([lv[0] for lv in levels], np.int8),
                                      np.array([lv[1] for lv in levels], np.float64),
                                      np.array([lv[2] for lv in levels], np.int64),
                                      np.array([lv[3] for lv in levels], np.int64))
                feed.book_ts = int(state["book_ts"]) if state.get("book_ts") else None
                feed.ready, feed.error = True, None
                return
        first = feed.files[-2] if len(feed.files) > 1 else feed.files[-1]
        log.info("depth %s: building the book from the start of %s", feed.instrument, Path(first.path).name)
        feed.path, feed.offset, feed.fingerprint, feed.last_ts = Path(first.path), None, None, None
        feed.book, feed.book_ts, feed.ready, feed.error = BookState.empty(), None, True, None

    async def _advance(self, feed: BookFeed) -> int:
        chunk = read_depth(feed.path, feed.offset)
        if chunk.rows:
            await self._apply(feed, chunk)
        later = [f for f in feed.files if f.day > _day(feed.path)]
        if later and chunk.pending_records == 0:   # the day is over: continue with the next file
            feed.path, feed.offset, feed.fingerprint, feed.last_ts = Path(later[0].path), None, None, None
        return chunk.rows

    async def _apply(self, feed: BookFeed, chunk) -> None:
        """Replay and commit the chunk, :data:`COMMIT_BATCHES` batch ends at a time."""
        ends = np.flatnonzero(chunk.columns["flags"] & 1)     # the chunk's last record is one
        cuts = (ends[COMMIT_BATCHES - 1:-1:COMMIT_BATCHES] + 1).tolist()
        for lo, hi in zip([0, *cuts], [*cuts, chunk.rows], strict=True):
            await self._commit(feed, chunk, lo, hi)

    async def _commit(self, feed: BookFeed, chunk, lo: int, hi: int) -> None:
        c = {k: v[lo:hi] for k, v in chunk.columns.items()}
        end_offset = chunk.start_offset + hi * chunk.header.record_size
        day_lo, day_hi = utc_day_bounds(_day(feed.path))
        reason, eff = screen_events(c["ts"], c["command"], c["price"], day_lo, day_hi, feed.last_ts)
        r = replay_book(eff, c["command"], c["flags"], c["num_orders"], c["price"], c["quantity"], reason != 0,
                        feed.book, levels=self.levels, snapshots=False, books=True)
        reason[r.missing] = MISSING_LEVEL
        b = r.books
        lines = encode_books(feed.instrument, b.ts, b.ids, b.quantity, b.num_orders, b.prices)
        book, book_ts, last_ts = r.final, int(eff[-1]), int(eff[-1])
        top = r.batches.iloc[-1].to_dict()
        has_bid, has_ask = np.isfinite(top["bid"]), np.isfinite(top["ask"])
        tob = {"ts_us": book_ts, "bid": _num(top["bid"]), "bid_size": int(top["bid_size"]) if has_bid else "",
               "ask": _num(top["ask"]), "ask_size": int(top["ask_size"]) if has_ask else "",
               "crossed": int(top["crossed"]), "locked": int(top["locked"])}
        levels = [[int(s), float(p), int(q), int(o)] for s, p, q, o in
                  zip(book.side, book.price, book.quantity, book.num_orders, strict=True)]
        state = {"file": str(feed.path), "fingerprint": chunk.fingerprint, "offset": end_offset,
                 "last_ts": last_ts, "book_ts": book_ts, "levels": json.dumps(levels)}
        inst = feed.instrument
        async with self.redis.pipeline(transaction=True) as tx:
            tx.set(self.keys.book(inst), last_message(lines))
            tx.delete(self.keys.tob(inst))
            tx.hset(self.keys.tob(inst), mapping=tob)
            tx.delete(self.keys.state(inst))
            tx.hset(self.keys.state(inst), mapping=state)
            tx.eval(PUBLISH_LINES, 1, self.keys.channel(inst), lines)
            await tx.execute()
        feed.offset, feed.fingerprint, feed.last_ts = end_offset, chunk.fingerprint, last_ts
        feed.book, feed.book_ts = book, book_ts
        self.metrics.records.labels(inst).inc(hi - lo)
        self.metrics.updates.labels(inst).inc(len(b))
        for code, n in zip(*np.unique(reason[reason != 0], return_counts=True), strict=True):
            self.metrics.quarantined.labels(REASONS[code]).inc(int(n))
        if self.hub is not None:
            publish_books(self.hub, inst, lines)

    # -- status ------------------------------------------------------------------------------
    def status(self) -> tuple[bool, dict]:
        now_us = time.time() * 1e6
        books = {f.instrument: {
            "file": None if f.path is None else f.path.name, "offset": f.offset,
            "source": "ok" if f.ready else ("error" if f.error else "starting"), "error": f.error,
            "book_ts_us": f.book_ts, "lag_s": None if f.book_ts is None else round((now_us - f.book_ts) / 1e6, 3),
            "bid_levels": int((f.book.side == 0).sum()), "ask_levels": int((f.book.side == 1).sum()),
        } for f in self.feeds.values()}
        ok = self.redis_error is None and all(f.ready for f in self.feeds.values())
        return ok, {"depth_dir": str(self.depth_dir), "redis_error": self.redis_error, "instruments": books}


def publish_books(hub, instrument: str, lines: bytes) -> None:
    """Send committed books (one per line), in order, to the WebSocket clients subscribed to ``book`` events."""
    clients = [c for c in hub.clients if c.wants(instrument, "book")]
    if not clients:
        return
    for message in lines.decode().split("\n")[:-1]:
        for client in clients:
            client.send(message)


def _day(path: Path):
    return parse_depth_name(path.name)[1]


def _num(value) -> float | str:
    return "" if value != value else float(value)   # NaN: an empty side
