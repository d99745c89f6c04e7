"""The sidecar's HTTP face (aiohttp): ``/health``, ``/metrics`` and the ``/ws`` event stream.

- ``GET /health`` - JSON: per instrument the last tick time, its lag behind the wall clock,
  the committed offset and the unread backlog; the source (file) state and the Redis
  state. 200 when Redis answers and every file is readable, else 503.
- ``GET /metrics`` - Prometheus text (own registry): ticks in/out, read→Redis lag
  histogram, Redis errors, buffered records, resets, duplicate/late records, RSS.
- ``GET /ws`` - WebSocket. Client messages: ``{"op": "subscribe"|"unsubscribe", "instruments": [...] | ["*"],
  "events": ["bar", "forming", "tick", "quote"]}``; server messages are JSON objects with ``type``
  ``bar`` / ``forming`` / ``tick`` / ``quote`` / ``book`` (events, sent after they are committed to Redis;
  ``forming``: the updated forming bar of each timeframe after every batch of records, with
  ``last_ts_us``, the time of the batch's last tick),
  ``subscribed`` (current subscriptions) or ``error``. A client that falls more than
  ``queue_max`` events behind is closed (code 1013); it can catch up from Redis.

Every route needs the token: ``Authorization: Bearer …`` (what a Prometheus scrape config
sends with ``authorization: {credentials: …}``) or ``?token=…``, compared with
``hmac.compare_digest`` against ``MARKETDATA_SIDECAR_TOKEN``; otherwise HTTP 401, before
any WebSocket upgrade. With no token configured every request is refused. The server
binds to 127.0.0.1 by default, and the access log is off so a ``?token=`` never reaches
a log line.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from marketdata_assets.errors import InvalidInstrument
from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.settings import Secret
from marketdata_assets.sidecar.pipeline import Batch
from marketdata_assets.storage.live_codec import BAR_STRUCT

log = logging.getLogger(__name__)
EVENT_TYPES = frozenset({"bar", "forming", "tick", "quote", "book"})  # book: the depth feed (sidecar/depth.py)


def rss_bytes() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return float(int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError):
        return float("nan")


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.ticks_in = Counter("marketdata_sidecar_ticks_in", "Records read from .scid files", ["instrument"], registry=r)
        self.ticks_out = Counter("marketdata_sidecar_ticks_out", "Records committed to Redis", ["instrument"], registry=r)
        self.bars_closed = Counter("marketdata_sidecar_bars_closed", "Closed bars committed", ["timeframe"], registry=r)
        self.lag = Histogram("marketdata_sidecar_lag_seconds", "From reading a batch to its commit in Redis",
                             buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
                             registry=r)
        self.redis_errors = Counter("marketdata_sidecar_redis_errors", "Failed Redis operations", registry=r)
        self.buffered = Gauge("marketdata_sidecar_buffered_records", "Records read, not yet in Redis", registry=r)
        self.resets = Counter("marketdata_sidecar_resets", "Instrument state rebuilt", ["reason"], registry=r)
        self.invalid_records = Counter("marketdata_sidecar_invalid_records", "Records with an invalid time, left out",
                                       ["instrument"], registry=r)
        self.duplicates = Counter("marketdata_sidecar_duplicate_ticks", "Replayed ticks refused by XADD", registry=r)
        self.late = Gauge("marketdata_sidecar_late_trades", "Out-of-order trades left out of bars", ["instrument"],
                          registry=r)
        self.ws_clients = Gauge("marketdata_sidecar_ws_clients", "Connected WebSocket clients", registry=r)
        self.rss = Gauge("marketdata_sidecar_rss_bytes", "Resident set size", registry=r)
        self.rss.set_function(rss_bytes)


class _Client:
    def __init__(self, ws: web.WebSocketResponse, queue_max: int):
        self.ws = ws
        self.subs: dict[str, set[str]] = {}
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_max)
        self.overflow = False

    def wants(self, instrument: str, event: str) -> bool:
        return event in self.subs.get(instrument, ()) or event in self.subs.get("*", ())

    def send(self, message: str) -> None:
        if self.overflow:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflow = True
            asyncio.get_running_loop().create_task(self.ws.close(code=1013, message=b"client too slow"))


class Hub:
    """Fan-out of committed events to WebSocket clients (bounded queue per client)."""

    def __init__(self, metrics: Metrics, queue_max: int = 10_000):
        self.metrics = metrics
        self.queue_max = queue_max
        self.clients: set[_Client] = set()

    def publish(self, batches: list[Batch]) -> None:
        if not self.clients:
            return
        for b in batches:
            clients = [c for c in self.clients if b.instrument in c.subs or "*" in c.subs]
            if not clients:
                continue
            for c in b.closed:
                message = json.dumps(c.event(b.instrument))
                for client in clients:
                    if client.wants(b.instrument, "bar"):
                        client.send(message)
            want_forming = [c for c in clients if c.wants(b.instrument, "forming")]
            if want_forming:
                for message in _forming_messages(b):
                    for client in want_forming:
                        client.send(message)
            want_ticks = [c for c in clients if c.wants(b.instrument, "tick")]
            want_quotes = [c for c in clients if c.wants(b.instrument, "quote")]
            if want_ticks or want_quotes:
                self._ticks(b, want_ticks, want_quotes)

    @staticmethod
    def _ticks(b: Batch, want_ticks: list[_Client], want_quotes: list[_Client]) -> None:
        t = b.ticks
        for ts, trade, price, size, bid, ask, side in zip(
            t.ts.tolist(), t.trade.tolist(), t.price.tolist(), t.size.tolist(), t.bid.tolist(), t.ask.tolist(),
            t.side.tolist(), strict=True,
        ):
            if trade and want_ticks:
                msg = json.dumps({"type": "tick", "instrument": b.instrument, "ts_us": ts, "price": price,
                                  "size": size, "side": ("", "buy", "sell")[side] or None, "bid": bid, "ask": ask})
                for client in want_ticks:
                    client.send(msg)
            elif not trade and want_quotes:
                msg = json.dumps({"type": "quote", "instrument": b.instrument, "ts_us": ts, "bid": bid, "ask": ask})
                for client in want_quotes:
                    client.send(msg)

    async def close_all(self) -> None:
        for c in list(self.clients):
            await c.ws.close(code=1001, message=b"sidecar shutting down")


def _forming_messages(b: Batch) -> list[str]:
    """One ``forming`` event per timeframe with a forming bar after this batch."""
    last_ts = int(b.ticks.ts[-1]) if len(b.ticks.ts) else None
    out = []
    for tf, packed in b.forming.items():
        if packed:
            ts, o, h, lo, c, v, n, bv, av, vwap = BAR_STRUCT.unpack(packed)
            out.append(json.dumps({"type": "forming", "instrument": b.instrument, "timeframe": tf, "ts_us": ts,
                                   "open": o, "high": h, "low": lo, "close": c, "volume": v, "num_trades": n,
                                   "bid_volume": bv, "ask_volume": av, "vwap": None if vwap != vwap else vwap,
                                   "last_ts_us": last_ts}))
    return out


def _supplied_token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.query.get("token")


def _raw(text: str) -> bytes:
    """The bytes behind a header/query/environment string: their non-UTF-8 bytes arrive as
    lone surrogates (``surrogateescape``), which a plain ``encode()`` refuses with an error."""
    return text.encode("utf-8", "surrogateescape")


def _authorized(request: web.Request, token: Secret) -> bool:
    """A token that is not the configured one, in any encoding, is simply not authorized."""
    expected, supplied = token.get(), _supplied_token(request)
    if not expected or not supplied:
        return False
    try:
        return hmac.compare_digest(_raw(supplied), _raw(expected))
    except UnicodeEncodeError:  # a lone surrogate that stands for no byte: not the token either
        return False


def _apply(client: _Client, msg: dict[str, Any]) -> dict[str, Any]:
    op = msg.get("op")
    if op not in ("subscribe", "unsubscribe"):
        return {"type": "error", "error": f"unknown op {op!r}; expected subscribe or unsubscribe"}
    instruments = msg.get("instruments")
    events = msg.get("events", ["bar"] if op == "subscribe" else sorted(EVENT_TYPES))
    if not isinstance(instruments, list) or not isinstance(events, list):
        return {"type": "error", "error": "instruments and events must be lists"}
    bad = [e for e in events if e not in EVENT_TYPES]
    if bad:
        return {"type": "error", "error": f"unknown event types {bad}; expected {sorted(EVENT_TYPES)}"}
    try:
        names = [i if i == "*" else validate_instrument(i) for i in instruments]
    except InvalidInstrument as exc:
        return {"type": "error", "error": str(exc)}
    for name in names:
        if op == "subscribe":
            client.subs.setdefault(name, set()).update(events)
        else:
            remaining = client.subs.get(name, set()) - set(events)
            if remaining:
                client.subs[name] = remaining
            else:
                client.subs.pop(name, None)
    return {"type": "subscribed", "subscriptions": {k: sorted(v) for k, v in sorted(client.subs.items())}}


def make_app(status: Callable[[], tuple[bool, dict]], metrics: Metrics, hub: Hub, token: Secret) -> web.Application:
    async def health(_: web.Request) -> web.Response:
        ok, body = status()
        return web.json_response(body, status=200 if ok else 503)

    async def metrics_view(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @web.middleware
    async def require_token(request: web.Request, handler) -> web.StreamResponse:
        if not token:
            return web.Response(status=401, text="HTTP face disabled: MARKETDATA_SIDECAR_TOKEN is not set\n")
        if not _authorized(request, token):
            return web.Response(status=401, text="missing or wrong token\n",
                                headers={"WWW-Authenticate": 'Bearer realm="marketdata-sidecar"'})
        return await handler(request)

    async def ws_view(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=30.0)
        await ws.prepare(request)
        client = _Client(ws, hub.queue_max)
        hub.clients.add(client)
        metrics.ws_clients.set(len(hub.clients))

        async def sender() -> None:
            while True:
                await ws.send_str(await client.queue.get())

        task = asyncio.create_task(sender())
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    body = json.loads(msg.data)
                    reply = _apply(client, body) if isinstance(body, dict) else {"type": "error", "error": "not an object"}
                except json.JSONDecodeError:
                    reply = {"type": "error", "error": "not JSON"}
                client.send(json.dumps(reply))
        finally:
            task.cancel()
            hub.clients.discard(client)
            metrics.ws_clients.set(len(hub.clients))
        return ws

    app = web.Application(middlewares=[require_token])
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/ws", ws_view)
    return app


async def start_http(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("HTTP face on http://%s:%d (/health, /metrics, /ws)", host, port)
    return runner
