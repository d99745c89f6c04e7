"""ProjectX market hub: SignalR (JSON protocol over WebSocket) with pysignalr, unmodified.

``MarketHubStream`` connects to ``MARKETDATA_PROJECTX_HUB_URL?access_token=…``, subscribes
``SubscribeContractTrades``, ``SubscribeContractQuotes`` and ``SubscribeContractMarketDepth``
for every contract **on every open** (pysignalr reconnects by itself after a dropped
connection; the subscriptions of the old connection are gone, so they are sent again), and
hands each event to ``on_event(kind, contract_id, data)``.

The parsing helpers are pure: ``GatewayTrade`` data may be one object or a list (both are
handled); ``GatewayQuote.volume`` is the session's running total and is deliberately not
returned (it is never a bar volume). pysignalr logs its negotiate URL, token included, at
INFO: its loggers are raised to WARNING here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from marketdata_assets.errors import SchemaMismatch

log = logging.getLogger("marketdata.projectx.hub")

SUBSCRIBE = ("SubscribeContractTrades", "SubscribeContractQuotes", "SubscribeContractMarketDepth")
EVENTS = {"GatewayTrade": "trade", "GatewayQuote": "quote", "GatewayDepth": "depth"}
TARGETS = {kind: target for target, kind in EVENTS.items()}
BUY, SELL = 0, 1  # GatewayTrade.type
OnEvent = Callable[[str, str, Any], Awaitable[None]]


def quiet_signalr_logs() -> None:
    """pysignalr logs the negotiate URL (with ``access_token``) at INFO: keep it out."""
    for name in ("pysignalr", "pysignalr.transport", "pysignalr.client", "websockets"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).level))


def timestamp_us(value: Any, what: str) -> int:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise SchemaMismatch(f"projectx hub: unreadable {what} timestamp {value!r}") from exc
    if moment.tzinfo is None:
        raise SchemaMismatch(f"projectx hub: {what} timestamp without a time zone: {value!r}")
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


@dataclass(frozen=True)
class Trade:
    ts_us: int
    price: float
    size: int
    side: int  # BUY (0) or SELL (1): the aggressor


@dataclass(frozen=True)
class Quote:
    ts_us: int
    bid: float
    ask: float


@dataclass(frozen=True)
class DepthEntry:
    ts_us: int
    type: int        # the gateway's DomType code, kept as sent (DEPTH_TYPES)
    price: float
    volume: int      # the level's size after the event (Ask/Bid kinds); the traded size for Trade/Fill


# GatewayDepth ``type`` (DomType) codes, as the gateway documents them
DEPTH_TYPES = ("unknown", "ask", "bid", "best_ask", "best_bid", "trade", "reset", "low", "high", "new_best_bid",
               "new_best_ask", "fill")


def parse_trades(data: Any) -> list[Trade]:
    """``GatewayTrade`` data, one object or a list of them → trades in the order received."""
    items: Iterable[Any] = data if isinstance(data, list) else [data]
    out = []
    stamp, us = None, 0   # trades of one message mostly share a timestamp: parse each string once
    for item in items:
        try:
            side = int(item["type"])
            if side not in (BUY, SELL):
                raise ValueError(f"type {side}")
            if item["timestamp"] != stamp:
                stamp, us = item["timestamp"], timestamp_us(item["timestamp"], "trade")
            out.append(Trade(us, float(item["price"]), int(item["volume"]), side))
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaMismatch(f"projectx hub: GatewayTrade without a valid timestamp/price/volume/type: "
                                 f"{str(item)[:200]}") from exc
    return out


def parse_quote(data: Any) -> Quote | None:
    """``GatewayQuote`` → best bid/ask at its timestamp; None when it carries no two-sided quote."""
    try:
        bid, ask = data.get("bestBid"), data.get("bestAsk")
        if bid is None or ask is None:
            return None
        stamp = data.get("timestamp") or data.get("lastUpdated")
        return Quote(timestamp_us(stamp, "quote"), float(bid), float(ask))
    except (AttributeError, TypeError, ValueError) as exc:
        raise SchemaMismatch(f"projectx hub: GatewayQuote without valid bestBid/bestAsk: {str(data)[:200]}") from exc


def parse_depth(data: Any) -> list[DepthEntry]:
    """``GatewayDepth`` data, one object or a list of them → entries in the order received."""
    items: Iterable[Any] = data if isinstance(data, list) else [data]
    out = []
    for item in items:
        try:
            price = item.get("price")
            out.append(DepthEntry(timestamp_us(item["timestamp"], "depth"), int(item["type"]),
                                  float("nan") if price is None else float(price), int(item.get("volume") or 0)))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise SchemaMismatch(f"projectx hub: GatewayDepth without a valid timestamp/type/price: "
                                 f"{str(item)[:200]}") from exc
    return out


def hub_url(base: str, token: str) -> str:
    return f"{base}{'&' if '?' in base else '?'}{urlencode({'access_token': token})}"


class MarketHubStream:
    """One hub connection (pysignalr reconnecting underneath) for a set of contracts.

    ``opened`` counts connections (1 + reconnects); every open re-subscribes everything.
    """

    def __init__(self, url: str, token: str, contracts: Iterable[str], on_event: OnEvent,
                 on_open: Callable[[], Awaitable[None]] | None = None):
        from pysignalr.client import SignalRClient

        quiet_signalr_logs()
        self.contracts = tuple(contracts)
        self.opened = 0
        self._opened_hook = on_open
        self.connected = asyncio.Event()
        self._client = SignalRClient(hub_url(url, token), retry_sleep=0.2, retry_count=5)
        self._client.on_open(self._on_open)
        self._client.on_close(self._on_close)
        for event, kind in EVENTS.items():
            self._client.on(event, self._handler(kind, on_event))

    def _handler(self, kind: str, on_event: OnEvent):
        async def handle(args: list[Any]) -> None:
            if len(args) < 2:
                raise SchemaMismatch(f"projectx hub: {kind} event without [contractId, data]")
            await on_event(kind, str(args[0]), args[1])

        return handle

    async def _on_open(self) -> None:
        self.opened += 1
        if self._opened_hook is not None:
            await self._opened_hook()
        for contract in self.contracts:
            for method in SUBSCRIBE:
                await self._client.send(method, [contract])
        log.info("market hub connected (%d); subscribed %s", self.opened, ", ".join(self.contracts))
        self.connected.set()

    async def _on_close(self) -> None:
        self.connected.clear()
        log.warning("market hub connection closed")

    async def run(self) -> None:
        await self._client.run()
