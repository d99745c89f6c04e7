"""The sidecar's ProjectX input: market hub messages → the hub journal → the tick feed.

For each instrument (``--projectx ESZ24,NQZ24``) the contract is resolved through the REST
client (``ESZ24`` → ``CON.F.US.EP.Z24``), a token fetched, and one hub stream subscribes
trades, quotes and depth of all contracts (again after every reconnect). Every hub message
is appended to the instrument's journal (``ESZ24.jsonl``, :mod:`~marketdata_assets.sources.projectx.journal`)
*before* anything else happens to it; then the one decoder (:mod:`~marketdata_assets.sources.projectx.decode`)
turns it into records, which go to the instrument's tick feed (``ESZ24.scid``, :mod:`.journal`)
that the sidecar's ordinary ``.scid`` loop tails into Redis, so hub ticks land in exactly the
keys, live bars and indicators ``.scid`` ticks do. Depth events are decoded and counted
(``status()["depth_events"]``); the ``live_ticks`` replay stores them in ``depth_events``.
When the input starts, the tick feed is brought in line with the journal (a crash may
have come between the two appends), and a ``start`` entry is journaled.

Feed stalls: while the session is open — judged by the feed's own clock, the timestamp of
the last message, so a replayed or time-shifted feed behaves like a live one — no message
for ``MARKETDATA_PROJECTX_STALL_SECONDS`` of wall-clock time is a stall: the stream is
rebuilt (fresh token, backoff 0.5 s doubling to 30 s while nothing arrives), subscribed
again, and the missed window is filled from ``retrieveBars`` (``sources/projectx/gaps``): every
connection is journaled (``connected``), and the answer too (``backfill``), so the replay fills
the same way. A hub drop that pysignalr reconnects by itself is filled the same way. The
token never reaches a log line: pysignalr's INFO logging of its negotiate URL is silenced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from marketdata_assets.errors import MarketDataError
from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.settings import Settings
from marketdata_assets.sidecar.journal import TickFeed, feed_path
from marketdata_assets.sources.projectx.decode import Decoded, HubDecoder
from marketdata_assets.sources.projectx.gaps import bar_rows
from marketdata_assets.sources.projectx.hub import TARGETS, MarketHubStream
from marketdata_assets.sources.projectx.journal import HubJournal, iter_entries, journal_path

log = logging.getLogger(__name__)
_BACKOFF_MIN_S, _BACKOFF_MAX_S = 0.5, 30.0
_HOLD_MAX_S = 2.0   # held-back messages are released (and the gap filled) after this at the latest


def _iso(us: int | None) -> str | None:
    return None if us is None else datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="microseconds")


def _now_us() -> int:
    return time.time_ns() // 1000


def catch_up(path: Path, feed: TickFeed) -> HubDecoder:
    """Decode the whole journal at ``path``; append to ``feed`` the records it lacks (rewrite
    it when it holds more than the journal decodes to). Returns the decoder, positioned
    after the journal's last line."""
    decoder, missing, have = HubDecoder(), [], feed.records
    if path.exists():
        for entry, _ in iter_entries(path):
            out = decoder.decode(entry)
            if decoder.records > have:
                missing.extend(out.records[max(0, len(out.records) - (decoder.records - have)):])
                have = decoder.records
    if feed.records > decoder.records:
        log.warning("%s holds %d records, its journal decodes to %d: rewriting it", feed.path.name,
                    feed.records, decoder.records)
        feed.rewrite()
        return catch_up(path, feed)
    if missing:
        log.info("%s: %d journaled record(s) were not in the tick feed yet", feed.path.name, len(missing))
        feed.write(missing)
    return decoder


class ProjectXInput:
    def __init__(self, settings: Settings, instruments: tuple[str, ...], journal_dir: Path,
                 kick: Callable[[], None] = lambda: None, client=None):
        self.settings = settings
        self.instruments = instruments
        self.journal_dir = Path(journal_dir)
        self.kick = kick
        self.stall_s = settings.projectx_stall_s
        self._client = client
        self.journals: dict[str, HubJournal] = {}
        self.decoders: dict[str, HubDecoder] = {}
        self.feeds: dict[str, TickFeed] = {}
        self.markets = {i: market_for_instrument(i, settings.instrument_markets) for i in instruments}
        self.by_contract: dict[str, str] = {}
        self.contract_of: dict[str, str] = {}
        self.stream: MarketHubStream | None = None
        self.last_message_us: int | None = None   # the feed's own clock: last trade/quote timestamp
        self.last_wall = time.monotonic()
        self.messages = {"trade": 0, "quote": 0, "depth": 0}
        self.connections = self.stalls = self.backfilled_seconds = self.depth_events = 0
        self.stalled_since: float | None = None
        self.held_since: dict[str, float] = {}    # instrument → monotonic time its gap began holding
        self.filling: set[str] = set()
        self.backfills: list[dict] = []
        self._restart = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------
    async def _setup(self) -> None:
        if self._client is None:
            from marketdata_assets.sources.projectx import build_projectx_client

            self._client = build_projectx_client(self.settings)
        for instrument in self.instruments:
            if instrument not in self.journals:
                contract = await asyncio.to_thread(self._client.contract, instrument)
                path = journal_path(self.journal_dir, instrument)
                journal = HubJournal(path)
                feed = TickFeed(feed_path(self.journal_dir, instrument))
                self.decoders[instrument] = await asyncio.to_thread(catch_up, path, feed)
                self.journals[instrument], self.feeds[instrument] = journal, feed
                self.by_contract[contract.id] = instrument
                self.contract_of[instrument] = contract.id
                self._process(instrument, {"rt": _now_us(), "sidecar": "start"})

    async def run(self) -> None:
        """Keep a hub stream running until cancelled; rebuild it when it ends or stalls."""
        backoff = _BACKOFF_MIN_S
        watchdog = asyncio.create_task(self._watchdog())
        try:
            while True:
                received = sum(self.messages.values())
                try:
                    await self._setup()
                    token = await asyncio.to_thread(self._client.access_token)
                    self.stream = MarketHubStream(self.settings.projectx_hub_url, token, tuple(self.by_contract),
                                                  self.on_event, on_open=self._opened)
                    why = await self._until_ended_or_stalled(self.stream)
                except (MarketDataError, OSError, RuntimeError, ValueError) as exc:  # pysignalr raises plain ones
                    why = f"{type(exc).__name__}: {exc}"
                if sum(self.messages.values()) > received:
                    backoff = _BACKOFF_MIN_S  # data flowed on that connection
                log.warning("ProjectX market hub: %s; reconnecting in %.1f s", why, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
        finally:
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)

    async def _until_ended_or_stalled(self, stream: MarketHubStream) -> str:
        self._restart.clear()
        task = asyncio.create_task(stream.run())
        restart = asyncio.create_task(self._restart.wait())
        try:
            await asyncio.wait({task, restart}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (task, restart):
                t.cancel()
            await asyncio.gather(task, restart, return_exceptions=True)
        if restart.done() and not restart.cancelled():
            return f"no message for {self.stall_s:g} s while the session is open (feed stalled)"
        return "stream ended" if task.exception() is None else f"{type(task.exception()).__name__}"

    async def _opened(self) -> None:
        """Every (re)connect is journaled: from the second one on, the decoder opens a gap."""
        self.connections += 1
        self.last_wall = time.monotonic()
        for instrument in self.journals:
            self._process(instrument, {"rt": _now_us(), "sidecar": "connected", "connection": self.connections})

    def session_open(self) -> bool:
        """Open at the feed's own clock (the last message's timestamp), on any instrument's market."""
        if self.last_message_us is None:
            return False
        stamp = np.array([self.last_message_us], dtype=np.int64)
        return any(bool(m.in_session(stamp)[0]) for m in self.markets.values())

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(max(0.05, min(1.0, self.stall_s / 4)))
            now = time.monotonic()
            for instrument, since in list(self.held_since.items()):
                if now - since > _HOLD_MAX_S and instrument not in self.filling:
                    await self._fill(instrument)
            silent = now - self.last_wall
            if silent >= self.stall_s and self.session_open() and not self._restart.is_set():
                self.stalls += 1
                self.stalled_since = self.stalled_since or now
                self.last_wall = now  # next verdict after another stall_s of silence
                log.warning("ProjectX feed stalled: no message for %.1f s (feed time %s); reconnecting", silent,
                            _iso(self.last_message_us))
                self._restart.set()

    # -- events --------------------------------------------------------------------------
    async def on_event(self, kind: str, contract_id: str, data) -> None:
        instrument = self.by_contract.get(contract_id)
        self.messages[kind] = self.messages.get(kind, 0) + 1
        self.last_wall = time.monotonic()
        self.stalled_since = None
        if instrument is None:
            log.warning("ProjectX hub event for unsubscribed contract %r ignored", contract_id[:40])
            return
        self._process(instrument, {"rt": _now_us(), "type": 1, "target": TARGETS[kind],
                                   "arguments": [contract_id, data]})
        decoder = self.decoders[instrument]
        if decoder.gap is not None and decoder.gap.first_us is not None:
            self.held_since.setdefault(instrument, time.monotonic())
            if decoder.fill_due() and instrument not in self.filling:
                await self._fill(instrument)

    def _process(self, instrument: str, entry: dict) -> Decoded:
        """Journal ``entry`` (first), decode it, and append its records to the tick feed."""
        self.journals[instrument].append(entry)
        decoder = self.decoders[instrument]
        out = decoder.decode(entry)
        if out.rejected:
            log.error("%s: hub message not readable, journaled but skipped: %s", instrument, decoder.last_rejection)
        if decoder.feed_us is not None:
            self.last_message_us = decoder.feed_us
        self.depth_events += len(out.depth)
        if out.records:
            self.feeds[instrument].write(out.records)
            self.kick()
        return out

    async def _fill(self, instrument: str) -> None:
        """Backfill ``instrument``'s gap from 1-second bars (journaled, then decoded: the
        decoder emits the bars and then what it held back)."""
        gap = self.decoders[instrument].gap
        if gap is None or instrument in self.filling:
            self.held_since.pop(instrument, None)
            return
        self.filling.add(instrument)  # messages arriving meanwhile keep being held, so the feed stays in time order
        lo, hi = gap.window() if gap.first_us is not None else (gap.last_us, gap.last_us)
        entry = {"instrument": instrument, "from": _iso(gap.last_us), "to": _iso(gap.first_us), "bars": 0,
                 "volume": 0, "error": None}
        rows: list = []
        try:
            if gap.first_us is not None:
                bars = await asyncio.to_thread(self._client.fetch_bars, self.contract_of[instrument],
                                               datetime.fromtimestamp(lo / 1e6, UTC),
                                               datetime.fromtimestamp(hi / 1e6, UTC), unit=1)
                rows = bar_rows(bars)
        except MarketDataError as exc:
            entry["error"] = str(exc)
            log.error("ProjectX backfill of %s %s..%s failed, the window stays a hole: %s", instrument,
                      entry["from"], entry["to"], exc)
        out = self._process(instrument, {"rt": _now_us(), "sidecar": "backfill", "from_us": lo, "to_us": hi,
                                         "bars": rows, "error": entry["error"]})
        self.filling.discard(instrument)
        self.held_since.pop(instrument, None)
        entry.update(bars=out.filled, volume=out.filled_volume)
        self.backfilled_seconds += out.filled
        self.backfills = (self.backfills + [entry])[-20:]
        log.info("ProjectX backfill %s %s..%s: %d one-second bars, volume %d", instrument, entry["from"],
                 entry["to"], entry["bars"], entry["volume"])

    def close(self) -> None:
        for handle in (*self.journals.values(), *self.feeds.values()):
            handle.close()
        if self._client is not None:
            self._client.close()

    def status(self) -> dict:
        return {"instruments": list(self.instruments), "contracts": dict(self.by_contract),
                "connected": bool(self.stream and self.stream.connected.is_set()),
                "connections": self.connections, "reconnects": max(0, self.connections - 1),
                "stalled": self.stalled_since is not None, "stalls": self.stalls,
                "silent_s": round(time.monotonic() - self.last_wall, 3), "stall_after_s": self.stall_s,
                "session_open": self.session_open(), "last_message_ts": _iso(self.last_message_us),
                "messages": dict(self.messages), "backfilled_seconds": self.backfilled_seconds,
                "backfills": list(self.backfills), "depth_events": self.depth_events,
                "rejected_messages": {i: d.rejected for i, d in self.decoders.items()},
                "journal_lines": {i: j.lines for i, j in self.journals.items()},
                "journal_torn_bytes": {i: j.torn_bytes for i, j in self.journals.items()},
                "journal_records": {i: f.records for i, f in self.feeds.items()}}


class RunningInput:
    """A started ``ProjectXInput`` and its task (``stop()`` cancels it and closes the journals)."""

    def __init__(self, source: ProjectXInput):
        self.source = source
        self.task = asyncio.create_task(source.run(), name="projectx-hub")

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        self.source.close()


def start_projectx(cfg, runner, metrics=None) -> RunningInput:
    """Start the hub input of ``cfg.projectx`` writing into ``cfg.data_dir`` (the runner tails
    it); its stall, reconnect and backfill figures are exported on ``metrics.registry``."""
    from prometheus_client import Gauge

    from marketdata_assets.settings import get_settings

    log.info("ProjectX market hub input for %s, journal %s", ", ".join(cfg.projectx), cfg.data_dir)
    source = ProjectXInput(get_settings(), cfg.projectx, cfg.data_dir, kick=runner.watcher.kick)
    if metrics is not None:
        for name, doc, value in (
            ("stalled", "1 while the ProjectX feed is stalled", lambda: float(source.stalled_since is not None)),
            ("stalls", "ProjectX feed stalls detected", lambda: source.stalls),
            ("reconnects", "ProjectX hub connections after the first", lambda: max(0, source.connections - 1)),
            ("backfilled_seconds", "one-second bars backfilled into the tick feed", lambda: source.backfilled_seconds),
        ):
            Gauge(f"marketdata_sidecar_projectx_{name}", doc, registry=metrics.registry).set_function(value)
    return RunningInput(source)
