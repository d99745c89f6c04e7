"""The sidecar's ProjectX input: market hub events → the tick journal (``journal``).

For each instrument (``--projectx ESZ24,NQZ24``) the contract is resolved through the REST
client (``ESZ24`` → ``CON.F.US.EP.Z24``), a token fetched, and one hub stream subscribes
trades, quotes and depth of all contracts (again after every reconnect). Every trade and
quote is appended to the instrument's journal *before* anything else happens to it; the
sidecar's ordinary ``.scid`` loop then tails the journal directory into Redis, so hub ticks
land in exactly the keys, live bars and indicators ``.scid`` ticks do. Depth events are
counted (``status()["messages"]``) but not stored yet.

When the stream ends (pysignalr gave up reconnecting, the token expired) it is rebuilt
with a fresh token after a backoff of 0.5 s doubling to 30 s. The token never reaches a
log line: pysignalr's INFO logging of its negotiate URL is silenced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from marketdata_assets.errors import MarketDataError
from marketdata_assets.settings import Settings
from marketdata_assets.sidecar.journal import TickJournal, journal_path
from marketdata_assets.sources.projectx.hub import MarketHubStream, parse_quote, parse_trades

log = logging.getLogger(__name__)
_BACKOFF_MIN_S, _BACKOFF_MAX_S = 0.5, 30.0


class ProjectXInput:
    def __init__(self, settings: Settings, instruments: tuple[str, ...], journal_dir: Path,
                 kick: Callable[[], None] = lambda: None, client=None):
        self.settings = settings
        self.instruments = instruments
        self.journal_dir = Path(journal_dir)
        self.kick = kick
        self._client = client
        self.journals: dict[str, TickJournal] = {}
        self.by_contract: dict[str, str] = {}
        self.stream: MarketHubStream | None = None
        self.connections = 0
        self.last_message_us: int | None = None   # the feed's own clock: last event timestamp
        self.messages = {"trade": 0, "quote": 0, "depth": 0}

    async def _setup(self) -> None:
        if self._client is None:
            from marketdata_assets.sources.projectx import build_projectx_client

            self._client = build_projectx_client(self.settings)
        for instrument in self.instruments:
            if instrument not in self.journals:
                contract = await asyncio.to_thread(self._client.contract, instrument)
                self.by_contract[contract.id] = instrument
                self.journals[instrument] = TickJournal(journal_path(self.journal_dir, instrument))

    async def run(self) -> None:
        """Keep a hub stream running until cancelled."""
        backoff = _BACKOFF_MIN_S
        while True:
            try:
                await self._setup()
                token = await asyncio.to_thread(self._client.access_token)
                self.stream = MarketHubStream(self.settings.projectx_hub_url, token, tuple(self.by_contract),
                                              self.on_event)
                opened_before = self.stream.opened
                await self.stream.run()
                why = "stream ended"
                if self.stream.opened > opened_before:
                    backoff = _BACKOFF_MIN_S
            except asyncio.CancelledError:
                raise
            except (MarketDataError, OSError, RuntimeError, ValueError) as exc:  # pysignalr raises plain errors
                why = f"{type(exc).__name__}: {exc}"
            log.warning("ProjectX market hub: %s; reconnecting in %.1f s", why, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX_S)

    async def on_event(self, kind: str, contract_id: str, data) -> None:
        instrument = self.by_contract.get(contract_id)
        self.messages[kind] = self.messages.get(kind, 0) + 1
        if instrument is None:
            log.warning("ProjectX hub event for unsubscribed contract %r ignored", contract_id[:40])
            return
        if kind == "trade":
            trades = parse_trades(data)
            self.journals[instrument].append(trades=trades)
            if trades:
                self.last_message_us = trades[-1].ts_us
        elif kind == "quote":
            quote = parse_quote(data)
            if quote is not None:
                self.journals[instrument].append(quote=quote)
                self.last_message_us = quote.ts_us
        self.kick()

    def close(self) -> None:
        for journal in self.journals.values():
            journal.close()
        if self._client is not None:
            self._client.close()

    def status(self) -> dict:
        opened = self.stream.opened if self.stream else 0
        return {"instruments": list(self.instruments), "contracts": dict(self.by_contract),
                "connected": bool(self.stream and self.stream.connected.is_set()), "connections": opened,
                "last_message_us": self.last_message_us, "messages": dict(self.messages),
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


def start_projectx(cfg, runner) -> RunningInput:
    """Start the hub input of ``cfg.projectx`` writing into ``cfg.data_dir`` (the runner tails it)."""
    from marketdata_assets.settings import get_settings

    log.info("ProjectX market hub input for %s, journal %s", ", ".join(cfg.projectx), cfg.data_dir)
    return RunningInput(ProjectXInput(get_settings(), cfg.projectx, cfg.data_dir, kick=runner.watcher.kick))
