"""The fake market hub: SignalR's JSON hub protocol over WebSocket at ``/hubs/market``.

What a SignalR client sees, as on the real hub: ``POST /hubs/market/negotiate`` (token in
``?access_token=`` or a bearer header; 401 without a valid one) answers a connection id and
the WebSockets transport; the WebSocket at ``/hubs/market?id=…&access_token=…`` expects the
handshake ``{"protocol":"json","version":1}`` + record separator ``\\x1e`` and answers ``{}``;
then every frame holds ``\\x1e``-terminated JSON messages: invocations (type 1: the client's
``SubscribeContractTrades/Quotes/MarketDepth(contractId)`` and ``Unsubscribe…``, answered with a
completion, type 3, when they carry an ``invocationId``; the server's ``GatewayTrade``,
``GatewayQuote``, ``GatewayDepth`` events with arguments ``[contractId, data]``), pings (type 6,
sent every ``ping_s``) and close (type 7).

``GatewayDepth`` data is a list of entries consistent with the quotes (:mod:`.depth`): the
first one after ``SubscribeContractMarketDepth`` starts with ``Reset`` and the whole book.
``GatewayTrade`` data is one object when a tick of the sender loop has one trade and a list
when it has several, as the real hub does. Faults (target ``hub``): ``stall`` sends nothing for
``delay_s`` (what the feed produced meanwhile is lost, like a stalled upstream), ``drop``
closes the connection (with ``count``, the next connection attempts are refused too).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from marketdata_assets.testkit.fakegateway import catalog
from marketdata_assets.testkit.fakegateway.depth import DepthBook
from marketdata_assets.testkit.fakegateway.feed import ContractFeed, FeedClock, iso
from marketdata_assets.testkit.fakegateway.state import GatewayState

log = logging.getLogger("marketdata.fakegateway")

RS = "\x1e"
KINDS = {"SubscribeContractTrades": "trades", "SubscribeContractQuotes": "quotes",
         "SubscribeContractMarketDepth": "depth"}
UNSUBSCRIBE = {f"Un{k[0].lower()}{k[1:]}": v for k, v in KINDS.items()}


@dataclass
class HubStats:
    connections: int = 0
    subscriptions: int = 0
    drops: int = 0
    stalls: int = 0
    messages: int = 0


@dataclass
class Hub:
    state: GatewayState
    clock: FeedClock
    tick_s: float = 0.05
    ping_s: float = 5.0
    stats: HubStats = field(default_factory=HubStats)
    feeds: dict[str, ContractFeed] = field(default_factory=dict)
    refuse: int = 0  # connection attempts still to refuse after a drop
    load_rate: float = 0.0  # > 0: instead of the replayed feed, this many trades/s stamped with the wall clock

    def feed(self, contract_id: str) -> ContractFeed:
        if contract_id not in self.feeds:
            self.feeds[contract_id] = ContractFeed(catalog.CONTRACTS[contract_id])
        return self.feeds[contract_id]


HUB = web.AppKey("hub", Hub)


def _token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return request.query.get("access_token") or (header[7:] if header.startswith("Bearer ") else None)


async def negotiate(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    if not hub.state.token_valid(_token(request)):
        return web.Response(status=401)
    if hub.refuse > 0:
        hub.refuse -= 1
        return web.Response(status=503, text="hub restarting")
    connection_id = secrets.token_urlsafe(16)
    return web.json_response({"negotiateVersion": 1, "connectionId": connection_id, "connectionToken": connection_id,
                              "availableTransports": [{"transport": "WebSockets",
                                                       "transferFormats": ["Text", "Binary"]}]})


class _Connection:
    def __init__(self, hub: Hub, ws: web.WebSocketResponse):
        self.hub, self.ws = hub, ws
        self.subs: dict[str, set[str]] = {"trades": set(), "quotes": set(), "depth": set()}
        self.cursor: dict[str, int] = {}
        self.books: dict[str, DepthBook] = {}

    async def send(self, *messages: dict) -> None:
        await self.ws.send_str("".join(json.dumps(m, separators=(",", ":")) + RS for m in messages))
        self.hub.stats.messages += len(messages)

    def on_invocation(self, message: dict) -> dict | None:
        target, args = message.get("target"), message.get("arguments") or []
        contract_id = str(args[0]) if args else ""
        error = None
        if contract_id not in catalog.CONTRACTS:
            error = f"unknown contract {contract_id!r}"
        elif target in KINDS:
            self.subs[KINDS[target]].add(contract_id)
            if KINDS[target] == "depth":   # the next depth message starts with Reset and the whole book
                self.books[contract_id] = DepthBook(catalog.CONTRACTS[contract_id].tick_size)
            if not self.hub.load_rate:
                self.cursor.setdefault(contract_id, self.hub.clock.now_us())
            self.hub.stats.subscriptions += 1
        elif target in UNSUBSCRIBE:
            self.subs[UNSUBSCRIBE[target]].discard(contract_id)
        else:
            error = f"unknown hub method {target!r}"
        if message.get("invocationId") is None:
            return None
        reply = {"type": 3, "invocationId": message["invocationId"]}
        return {**reply, "error": error} if error else {**reply, "result": None}

    async def pump(self) -> None:
        """Send what the feed produced since the last tick, pings, and act on hub faults."""
        last_ping = asyncio.get_running_loop().time()
        while not self.ws.closed:
            await asyncio.sleep(self.hub.tick_s)
            fault = self.hub.state.take_fault("hub")
            if fault and fault.mode == "stall":
                self.hub.stats.stalls += 1
                await asyncio.sleep(fault.delay_s)
                now = self.hub.clock.now_us()
                self.cursor = dict.fromkeys(self.cursor, now)  # the stalled stretch never arrives
                continue
            if fault and fault.mode == "drop":
                self.hub.stats.drops += 1
                self.hub.refuse = (fault.count or 1) - 1
                await self.ws.close()
                return
            await self._events()
            if asyncio.get_running_loop().time() - last_ping >= self.hub.ping_s:
                await self.send({"type": 6})
                last_ping = asyncio.get_running_loop().time()

    async def _load(self) -> None:
        """Benchmark load: ``load_rate`` trades/s per subscribed contract, stamped when sent."""
        now = time.time_ns() // 1000
        last = self.cursor.get("_load", now)
        n = min(int((now - last) * self.hub.load_rate / 1e6), 2000)  # frames stay well under 1 MB
        if n <= 0:
            self.cursor.setdefault("_load", now)
            return
        self.cursor["_load"] = last + int(n * 1e6 / self.hub.load_rate)
        out = []
        for contract_id in self.subs["trades"]:
            tick = catalog.CONTRACTS[contract_id].tick_size
            base = catalog.CONTRACTS[contract_id].base_price
            out.append({"type": 1, "target": "GatewayTrade", "arguments": [contract_id, [
                {"symbolId": contract_id, "price": base + (i % 8) * tick, "timestamp": iso(now), "type": i % 2,
                 "volume": 1} for i in range(n)]]})
        if out:
            await self.send(*out)

    async def _events(self) -> None:
        if self.hub.load_rate > 0:
            return await self._load()
        now = self.hub.clock.now_us()
        out = []
        for contract_id, after in list(self.cursor.items()):
            feed = self.hub.feed(contract_id)
            trades, quotes, depth = feed.events(feed.trades_between(after, now))
            self.cursor[contract_id] = now
            if trades and contract_id in self.subs["trades"]:
                data = trades[0] if len(trades) == 1 else trades
                out.append({"type": 1, "target": "GatewayTrade", "arguments": [contract_id, data]})
            if quotes and contract_id in self.subs["quotes"]:
                out.append({"type": 1, "target": "GatewayQuote", "arguments": [contract_id, quotes[-1]]})
            if depth and contract_id in self.subs["depth"]:
                book = self.books[contract_id]
                entries = [e for top in depth for e in book.update(*top)]
                out.append({"type": 1, "target": "GatewayDepth", "arguments": [contract_id, entries]})
        if out:
            await self.send(*out)


async def _handshake(ws: web.WebSocketResponse) -> bool:
    msg = await ws.receive(timeout=10)
    if msg.type != WSMsgType.TEXT or RS not in msg.data:
        await ws.close()
        return False
    try:
        request = json.loads(msg.data.split(RS, 1)[0])
    except json.JSONDecodeError:
        request = {}
    if request.get("protocol") != "json" or request.get("version") != 1:
        await ws.send_str(json.dumps({"error": "Requested protocol is not supported, use json version 1"}) + RS)
        await ws.close()
        return False
    await ws.send_str("{}" + RS)
    return True


async def market_hub(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    if not hub.state.token_valid(_token(request)):
        return web.Response(status=401)
    ws = web.WebSocketResponse(autoping=True, heartbeat=None)
    await ws.prepare(request)
    if not await _handshake(ws):
        return ws
    hub.stats.connections += 1
    conn = _Connection(hub, ws)
    pump = asyncio.create_task(conn.pump())
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            for raw in filter(None, msg.data.split(RS)):
                message = json.loads(raw)
                if message.get("type") == 1:
                    reply = conn.on_invocation(message)
                    if reply is not None:
                        await conn.send(reply)
                elif message.get("type") == 7:
                    await ws.close()
    finally:
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)
    return ws


def add_routes(app: web.Application, hub: Hub) -> None:
    app[HUB] = hub
    app.router.add_post("/hubs/market/negotiate", negotiate)
    app.router.add_get("/hubs/market", market_hub)
