"""The sidecar's provider input: a polling loop over the REST providers into Redis.

Every ``MARKETDATA_COLLECTION_INTERVAL_S`` (default 1 s) one *cycle* asks, for every
instrument of ``--providers`` / ``MARKETDATA_SIDECAR_PROVIDER_INSTRUMENTS``, the latest 1m
bars (from the last closed minute it holds, at least the last two minutes, to the end of
the current one) through the same clients, symbol map, priority fallback, rate limiters
and circuit breakers as ``provider_bars`` (``sources.http``), in parallel threads. Its calls
use the loop's own retry policy (:meth:`RetryPolicy.for_interval`): the budget check never
waits (a provider whose budget is spent is passed over as ``budget``: the next provider
serves, or the instrument keeps what it has and the cycle says so), and a ``Retry-After``
longer than the interval passes the provider over instead of sleeping. Breakers recover by
themselves: once the cooldown is over the first provider gets its half-open trial on the
next cycle and, when it succeeds, serves again.

What comes back is folded by :class:`ProviderBars` and written by :class:`ProviderPublisher`
in one transaction per cycle, then journaled (:mod:`.provider_journal`). At start, and when
Redis comes back without the loop's data, every instrument is rebuilt: at start from a
backfill of the last ``MARKETDATA_SIDECAR_BARS_KEPT`` (5000) closed minutes, later from the
kept bars. Never imports Dagster.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from redis.asyncio import Redis
from redis.exceptions import RedisError

from marketdata_assets.model.sessions import Market, market_for_instrument
from marketdata_assets.model.symbol_map import SymbolMap, load_symbol_map
from marketdata_assets.settings import Settings
from marketdata_assets.sidecar import provider_health
from marketdata_assets.sidecar.provider_health import combined_status  # noqa: F401 (the sidecar's hook)
from marketdata_assets.sidecar.provider_journal import Journal, journal_dir
from marketdata_assets.sidecar.provider_metrics import LoopMetrics
from marketdata_assets.sidecar.provider_publish import ProviderPublisher, bar_event
from marketdata_assets.sidecar.provider_state import MINUTE_US, Minute, ProviderBars, Update, frame_minutes
from marketdata_assets.sources.http import (
    AllProvidersFailed,
    RetryPolicy,
    build_providers,
    call_policy,
    fetch_with_fallback,
)
from marketdata_assets.storage.live_keys import Keys

log = logging.getLogger(__name__)


class SystemClock:
    """Wall time for bar times, monotonic time for limiters, breakers and intervals."""

    @staticmethod
    def time() -> float:
        return time.time()

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()


@dataclass
class Feed:
    instrument: str
    market: Market
    asset_class: str
    symbols: dict[str, str]
    bars: ProviderBars
    seq: int | None = None            # last seq committed (None: nothing yet; -1: unknown, rewrite)
    provider: str | None = None       # who served last
    served_at: float | None = None    # clock time of the request that last served
    note: str = ""                    # why the last cycle did not serve, if it did not
    fallbacks: int = 0


@dataclass
class Fetched:
    instrument: str
    asof: float
    minutes: list[Minute] = field(default_factory=list)
    provider: str | None = None
    attempts: list = field(default_factory=list)
    note: str = ""
    update: Update | None = None      # what folding the minutes changed (polls only)


class ProviderLoop:
    def __init__(self, instruments: tuple[str, ...], settings: Settings, *, redis_url: str, prefix: str,
                 interval_s: float = 1.0, stale_after_s: float = 10.0, bars_kept: int = 5000,
                 metrics: LoopMetrics | None = None, clock=None, chain=None, journal_root: Path | None = None,
                 symbols: SymbolMap | None = None, heartbeat_ttl_s: int | None = None, hub=None):
        self.clock = clock or SystemClock()
        self.interval_s = interval_s
        self.stale_after_s = stale_after_s
        self.bars_kept = bars_kept
        self.metrics = metrics or LoopMetrics()
        self.policy = RetryPolicy.for_interval(interval_s)
        self.chain = chain if chain is not None else build_providers(
            settings, timeout_s=max(2.0, min(settings.http_timeout_s, 2 * interval_s)),
            clock=self.clock.monotonic)
        self.rank = {p.name: i for i, p in enumerate(self.chain)}
        smap = symbols or load_symbol_map()
        self.feeds: dict[str, Feed] = {}
        for inst in instruments:
            market = market_for_instrument(inst, settings.instrument_markets)
            info = smap.instrument(inst)  # InvalidInstrument when it is not in the symbol map
            self.feeds[inst] = Feed(inst, market, info.asset_class, smap.provider_symbols(inst),
                                    ProviderBars(inst, market, bars_kept, self.rank))
        self.redis = Redis.from_url(redis_url, socket_timeout=5.0, socket_connect_timeout=2.0)
        self.keys = Keys(prefix)
        self.publisher = ProviderPublisher(self.redis, self.keys, bars_kept)
        self.journal = Journal(journal_root or journal_dir(settings.var_dir))
        self.pool = ThreadPoolExecutor(max_workers=max(1, min(8, len(self.feeds))), thread_name_prefix="provider-poll")
        self.latencies: deque[float] = deque(maxlen=1000)
        self.cycles = 0
        self.loaded = False
        self._history: list | None = None  # the backfill, kept until Redis has it
        self.redis_error: str | None = None
        self.stopping = asyncio.Event()
        self.heartbeat_ttl_s = heartbeat_ttl_s  # set when no .scid runner writes {p}:heartbeat
        self._started = time.time()
        self.hub = hub  # the sidecar's WebSocket fan-out: closed bars go to /ws subscribers too

    # -- running -----------------------------------------------------------------------
    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        log.info("provider loop: %s every %g s via %s", ", ".join(self.feeds), self.interval_s,
                 " > ".join(self.rank))
        try:
            while not self.stopping.is_set():
                started = self.clock.monotonic()
                await self.cycle()
                delay = self.interval_s - (self.clock.monotonic() - started)
                if delay > 0:
                    try:
                        await asyncio.wait_for(self.stopping.wait(), delay)
                    except TimeoutError:
                        pass
            if self.heartbeat_ttl_s:
                try:
                    await self.publisher.commit([], (self._beat("stopped"), self.heartbeat_ttl_s))
                except (RedisError, OSError):
                    pass
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        await self.redis.aclose()

    async def cycle(self) -> None:
        """One collection cycle (the backfill first, while it has not succeeded)."""
        started = time.perf_counter()
        polling = self.loaded
        try:
            if not self.loaded:
                await self._backfill()
            else:
                await self._poll()
            self.redis_error = None
        except (RedisError, OSError) as exc:
            self.redis_error = f"{type(exc).__name__}: {exc}"
            self.metrics.redis_errors.inc()
            log.warning("provider loop: Redis unavailable (%s); retrying next cycle", self.redis_error)
            for feed in self.feeds.values():
                # Redis may have lost everything, or not applied this cycle's commit (its bars are
                # in the kept bars already): no seq matches -1, so each instrument is rewritten whole
                feed.seq = -1
        elapsed = time.perf_counter() - started
        if polling:  # the backfill is not a collection cycle
            self.cycles += 1
            self.latencies.append(elapsed)
            self.metrics.observe_cycle(elapsed, self.latencies)
        provider_health.export(self)

    async def _backfill(self) -> None:
        """Fetch the history once; commit it (again, after a Redis error) until Redis has it."""
        if self._history is None:
            asof = self.clock.time()
            futures = {i: self.pool.submit(self._fetch, f, asof, self._backfill_start(f, asof))
                       for i, f in self.feeds.items()}
            history = []
            for inst, fut in futures.items():
                got: Fetched = await asyncio.wrap_future(fut)
                feed = self.feeds[inst]
                self._account(feed, got)
                update = feed.bars.load(got.minutes, int(got.asof * 1e6))
                history.append((feed, update))
                self.journal.append(inst, feed.market, update.minutes, "backfill")
                log.info("%s: backfilled %d closed 1m bars from %s", inst, len(feed.bars.kept),
                         got.provider or "nobody")
            self._history = history
        else:
            self._history = [(feed, feed.bars.snapshot()) for feed, _ in self._history]
        await self._commit(self._history, rebuild_all=True)
        self.loaded = True

    def _backfill_start(self, feed: Feed, asof: float) -> float:
        """Early enough for ``bars_kept`` open minutes before ``asof`` (at most 60 days back)."""
        now_us = int(asof * 1e6)
        day = feed.market.trading_dates(np.array([now_us], np.int64))[0].astype(object)
        count, start_us = 0, now_us - MINUTE_US
        for back in range(60):
            minutes = feed.market.open_minutes_us(day - timedelta(days=back))
            minutes = minutes[minutes < now_us]
            count += len(minutes)
            if len(minutes):
                start_us = int(minutes[0])
            if count >= self.bars_kept:
                start_us = int(minutes[-(self.bars_kept - (count - len(minutes)))]) if len(minutes) else start_us
                break
        return start_us / 1e6

    async def _poll(self) -> None:
        asof = self.clock.time()
        polled = {i: f for i, f in self.feeds.items() if self._worth_polling(f, asof)}
        for feed in self.feeds.values():
            if feed.instrument not in polled:
                feed.note = "market closed: not polled"
        futures = {i: self.pool.submit(self._poll_one, f, asof) for i, f in polled.items()}
        items = []
        for inst, fut in futures.items():
            got: Fetched = await asyncio.wrap_future(fut)
            feed = self.feeds[inst]
            self._account(feed, got)
            if got.update is not None:
                if got.update.corrected:
                    self.metrics.corrections.labels(inst).inc(len(got.update.corrected))
                    log.info("%s: %d late correction(s) from %s applied", inst, len(got.update.corrected),
                             got.provider)
                items.append((feed, got.update))
        await self._commit(items)

    def _worth_polling(self, feed: Feed, asof: float) -> bool:
        """Open now, or closed less than two minutes ago (its last bar still has to close):
        a closed market costs no request and no budget."""
        at = np.array([int(asof * 1e6), int((asof - 120) * 1e6)], np.int64)
        return bool(feed.market.in_session(at).any())

    def _poll_start(self, feed: Feed, asof: float) -> float:
        floor = int(asof // 60 * 60)
        last = feed.bars.last_ts
        start = floor - 120 if last is None else min(floor - 120, last // 1_000_000 + 60)
        return max(start, floor - 86400)

    # -- fetching (worker threads) ---------------------------------------------------------
    def _poll_one(self, feed: Feed, asof: float) -> Fetched:
        """Fetch and fold one instrument, in a worker thread (a correction's rebuild, the
        costliest step, never stalls the event loop). Each feed is only touched by its own
        worker during a cycle."""
        got = self._fetch(feed, asof, self._poll_start(feed, asof))
        if got.provider is not None:
            got.update = update = feed.bars.apply(got.minutes, int(got.asof * 1e6))
            # journaled as soon as they are part of the kept bars: a Redis outage delays their
            # commit (they are written with the rebuild after it) but never loses them here
            if not (update.snapshot or update.replayed):
                self.journal.append(feed.instrument, feed.market, update.minutes, "bar")
            self.journal.append(feed.instrument, feed.market, update.corrected, "correction")
        return got

    def _fetch(self, feed: Feed, asof: float, start_s: float) -> Fetched:
        got = Fetched(feed.instrument, asof)
        start = datetime.fromtimestamp(start_s, UTC)
        end = datetime.fromtimestamp((int(asof // 60) + 1) * 60, UTC)
        try:
            with call_policy(self.policy, asof=asof):
                frame, provider, attempts = fetch_with_fallback(self.chain, feed.symbols, "1m", start, end,
                                                                instrument=feed.instrument)
        except AllProvidersFailed as exc:
            got.attempts, got.note = exc.attempts, str(exc.why)
            return got
        got.provider, got.attempts = provider, attempts
        got.minutes = frame_minutes(frame, provider, feed.asset_class)
        return got

    def _account(self, feed: Feed, got: Fetched) -> None:
        for a in got.attempts:
            self.metrics.requests.labels(a.provider, a.outcome).inc()
            if a.outcome in ("budget", "rate_limited"):
                self.metrics.rate_limit_waits.labels(a.provider, a.outcome).inc()
        first = next((a.provider for a in got.attempts if a.outcome != "no_symbol"), None)
        if got.provider is not None:
            if got.provider != first:
                feed.fallbacks += 1
                self.metrics.fallbacks.labels(feed.instrument, got.provider).inc()
            if feed.provider != got.provider:
                log.info("%s: now served by %s (was %s)", feed.instrument, got.provider, feed.provider)
            feed.provider, feed.served_at, feed.note = got.provider, got.asof, ""
        else:
            feed.note = "serving what it has: " + "; ".join(f"{a.provider}: {a.outcome}" for a in got.attempts)

    # -- Redis -----------------------------------------------------------------------------
    async def _commit(self, items: list[tuple[Feed, Update]], rebuild_all: bool = False) -> None:
        in_redis = await self.publisher.seqs(self.feeds)
        touched = {feed.instrument for feed, _ in items}
        for inst, feed in self.feeds.items():  # Redis lost or replaced our data: rewrite it whole
            if not rebuild_all and feed.bars.kept and in_redis[inst] != feed.seq:
                log.warning("%s: Redis holds seq %s, expected %s; rebuilding from the kept bars",
                            inst, in_redis[inst], feed.seq)
                self.metrics.rebuilds.inc()
                update = feed.bars.snapshot()
                items = [(f, u) for f, u in items if f.instrument != inst] + [(feed, update)]
                touched.add(inst)
        batch = []
        for feed, update in items:
            seq = (in_redis[feed.instrument] or 0) + 1
            poll = {"seq": seq, "provider": feed.provider or "", "corrections": feed.bars.corrections,
                    "served_us": int((feed.served_at or 0) * 1e6)}
            batch.append((feed.instrument, update, poll))
        beat = (self._beat("running"), self.heartbeat_ttl_s) if self.heartbeat_ttl_s else None
        if batch or beat:
            await self.publisher.commit(batch, beat)
        for inst, _, poll in batch:
            self.feeds[inst].seq = poll["seq"]
        if self.hub is not None:
            self.hub.publish([_Committed(f.instrument, [_Event(c, u) for c in u.closed]) for f, u in items
                              if u.closed and not (u.snapshot or u.replayed)])

    def _beat(self, status: str) -> dict:
        return {"ts_us": int(time.time() * 1e6), "pid": os.getpid(), "host": socket.gethostname(),
                "status": status, "started_us": int(self._started * 1e6), "instruments": sorted(self.feeds),
                "source": "providers"}

    # -- status (provider_health) ------------------------------------------------------------
    def status(self) -> dict:
        return provider_health.status(self)

    @property
    def ok(self) -> bool:
        return provider_health.is_ok(self)


class _NoTicks:
    ts = trade = price = size = bid = ask = side = np.empty(0)


@dataclass
class _Committed:
    """What :meth:`Hub.publish` reads of a committed batch: closed bars, no ticks."""

    instrument: str
    closed: list
    ticks: _NoTicks = field(default_factory=_NoTicks)


@dataclass
class _Event:
    """A closed bar as the WebSocket sends it: the Redis event (no NaN; 1m bars with provider)."""

    closed_bar: object               # a ClosedBar
    update: Update

    @property
    def timeframe(self) -> str:
        return self.closed_bar.timeframe

    def event(self, instrument: str) -> dict:
        return bar_event(instrument, self.closed_bar, {m.ts: m.provider for m in self.update.minutes})


def start_provider_loop(cfg, registry, heartbeat: bool = False, hub=None) -> ProviderLoop:
    """The loop of a sidecar configuration (``SidecarConfig``), its metrics in ``registry``;
    ``heartbeat``: it writes ``{p}:heartbeat`` (when no ``.scid`` runner does)."""
    from marketdata_assets.settings import get_settings

    return ProviderLoop(cfg.provider_instruments, get_settings(), redis_url=cfg.redis_url, prefix=cfg.prefix,
                        interval_s=cfg.collection_interval_s, stale_after_s=cfg.stale_after_s,
                        bars_kept=cfg.bars_kept, metrics=LoopMetrics(registry),
                        heartbeat_ttl_s=cfg.heartbeat_stale_s if heartbeat else None, hub=hub)
