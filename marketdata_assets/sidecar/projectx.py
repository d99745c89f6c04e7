"""The sidecar's ProjectX input: market hub events → the tick journal (``journal``).

For each instrument (``--projectx ESZ24,NQZ24``) the contract is resolved through the REST
client (``ESZ24`` → ``CON.F.US.EP.Z24``), a token fetched, and one hub stream subscribes
trades, quotes and depth of all contracts (again after every reconnect). Every trade and
quote is appended to the instrument's journal *before* anything else happens to it; the
sidecar's ordinary ``.scid`` loop then tails the journal directory into Redis, so hub ticks
land in exactly the keys, live bars and indicators ``.scid`` ticks do. Depth events are
counted (``status()["messages"]``) but not stored yet.

Feed stalls: while the session is open — judged by the feed's own clock, the timestamp of
the last message, so a replayed or time-shifted feed behaves like a live one — no message
for ``MARKETDATA_PROJECTX_STALL_SECONDS`` of wall-clock time is a stall: the stream is
rebuilt (fresh token, backoff 0.5 s doubling to 30 s while nothing arrives), subscribed
again, and the missed window is filled from ``retrieveBars`` (``projectx_gaps``). A hub
drop that pysignalr reconnects by itself is filled the same way. The token never reaches a
log line: pysignalr's INFO logging of its negotiate URL is silenced.
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
from marketdata_assets.sidecar.journal import TickJournal, journal_path
from marketdata_assets.sidecar.projectx_gaps import Gap, fill_records
from marketdata_assets.sources.projectx.hub import MarketHubStream, parse_quote, parse_trades

log = logging.getLogger(__name__)
_BACKOFF_MIN_S, _BACKOFF_MAX_S = 0.5, 30.0
_HOLD_MAX_S = 2.0   # held-back messages are released (and the gap filled) after this at the latest


def _iso(us: int | None) -> str | None:
    return None if us is None else datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="microseconds")


class ProjectXInput:
    def __init__(self, settings: Settings, instruments: tuple[str, ...], journal_dir: Path,
                 kick: Callable[[], None] = lambda: None, client=None):
        self.settings = settings
        self.instruments = instruments
        self.journal_dir = Path(journal_dir)
        self.kick = kick
        self.stall_s = settings.projectx_stall_s
        self._client = client
        self.journals: dict[str, TickJournal] = {}
        self.markets = {i: market_for_instrument(i, settings.instrument_markets) for i in instruments}
        self.by_contract: dict[str, str] = {}
        self.contract_of: dict[str, str] = {}
        self.stream: MarketHubStream | None = None
        self.last_message_us: int | None = None   # the feed's own clock: last event timestamp
        self.last_us: dict[str, int] = {}         # per instrument
        self.last_wall = time.monotonic()
        self.messages = {"trade": 0, "quote": 0, "depth": 0}
        self.connections = self.stalls = self.backfilled_seconds = 0
        self.stalled_since: float | None = None
        self.gaps: dict[str, Gap] = {}
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
                self.by_contract[contract.id] = instrument
                self.contract_of[instrument] = contract.id
                self.journals[instrument] = TickJournal(journal_path(self.journal_dir, instrument))

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
        """Every (re)connect: a gap opens for each instrument that had data before."""
        self.connections += 1
        self.last_wall = time.monotonic()
        if self.connections > 1:
            for instrument, last in self.last_us.items():
                if instrument not in self.gaps:
                    self.gaps[instrument] = Gap(instrument, last, self._second_volume(instrument, last))

    def _second_volume(self, instrument: str, last_us: int) -> int:
        sec, volume = self.journals[instrument].second
        return volume if sec == last_us // 1_000_000 else 0

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
            for instrument, gap in list(self.gaps.items()):
                if gap.held_since is not None and now - gap.held_since > _HOLD_MAX_S and not gap.filling:
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
        if kind == "trade":
            parsed = parse_trades(data)
            first, stamp = (parsed[0].ts_us, parsed[-1].ts_us) if parsed else (None, None)
        elif kind == "quote":
            parsed = parse_quote(data)
            first = stamp = parsed.ts_us if parsed else None
        else:
            return
        if stamp is None:
            return
        self.last_message_us = stamp
        gap = self.gaps.get(instrument)
        if gap is not None:  # hold everything back until the feed is past the first second (module doc)
            if gap.first_us is None:
                gap.first_us, gap.held_since = first, time.monotonic()
            gap.held.append((kind, parsed))
            if stamp >= gap.release_us and not gap.filling:
                await self._fill(instrument)
            return
        self._append(instrument, kind, parsed)
        self.kick()

    def _append(self, instrument: str, kind: str, parsed) -> None:
        journal = self.journals[instrument]
        if kind == "trade":
            journal.append(trades=parsed)
            if parsed:
                self.last_us[instrument] = parsed[-1].ts_us
        else:
            journal.append(quote=parsed)
            self.last_us[instrument] = parsed.ts_us

    async def _fill(self, instrument: str) -> None:
        """Backfill ``instrument``'s gap from 1-second bars, then release what was held back."""
        gap = self.gaps[instrument]
        if gap.filling:
            return
        gap.filling = True  # messages arriving meanwhile keep being held, so the journal stays in time order
        lo, hi = gap.window()
        entry = {"instrument": instrument, "from": _iso(gap.last_us), "to": _iso(gap.first_us), "bars": 0,
                 "volume": 0, "error": None}
        try:
            bars = await asyncio.to_thread(self._client.fetch_bars, self.contract_of[instrument],
                                           datetime.fromtimestamp(lo / 1e6, UTC), datetime.fromtimestamp(hi / 1e6, UTC),
                                           unit=1)
            held_volume = sum(t.size for kind, ts in gap.held if kind == "trade" for t in ts
                              if t.ts_us // 1_000_000 == gap.first_us // 1_000_000)
            records = fill_records(gap, bars, held_volume)
            self.journals[instrument].append_bars(records)
            entry.update(bars=len(records), volume=sum(r[5] for r in records))
            self.backfilled_seconds += len(records)
        except MarketDataError as exc:
            entry["error"] = str(exc)
            log.error("ProjectX backfill of %s %s..%s failed, the window stays a hole: %s", instrument,
                      entry["from"], entry["to"], exc)
        del self.gaps[instrument]
        self.backfills = (self.backfills + [entry])[-20:]
        log.info("ProjectX backfill %s %s..%s: %d one-second bars, volume %d", instrument, entry["from"],
                 entry["to"], entry["bars"], entry["volume"])
        for kind, parsed in gap.held:
            self._append(instrument, kind, parsed)
        self.kick()

    def close(self) -> None:
        for journal in self.journals.values():
            journal.close()
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
                "backfills": list(self.backfills),
                "journal_records": {i: j.records for i, j in self.journals.items()}}


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
            ("backfilled_seconds", "one-second bars backfilled into the journal", lambda: source.backfilled_seconds),
        ):
            Gauge(f"marketdata_sidecar_projectx_{name}", doc, registry=metrics.registry).set_function(value)
    return RunningInput(source)
