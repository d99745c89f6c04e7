"""A local stand-in for the ProjectX gateway: REST and market hub on one port, 127.0.0.1.

REST on the real paths (``/api/Auth/loginKey``, ``/api/Contract/search``,
``/api/History/retrieveBars``, see ``rest``); so ``MARKETDATA_PROJECTX_API_URL`` is
simply ``http://127.0.0.1:PORT``. The market hub (SignalR JSON protocol, see ``hub``) is at
``/hubs/market``; its feed replays the generated trades on a feed clock (``--feed-start``,
``--feed-speed``), so live data and REST bars of the same instant agree.

Control API (JSON, for tests and the demo):
- ``POST /_control/faults {"target": "rest"|"loginKey"|"search"|"retrieveBars"|"hub"|"*",
  "mode": "429"|"500"|"expire_token"|"stall"|"drop"|"ok", "count": N, "delay_s": S}``;
  ``GET /_control/faults``
- ``GET /_control/requests[?endpoint=retrieveBars]``; ``DELETE /_control/requests``
- ``GET /_control/health``

``run_server`` blocks (CLI); ``FakeGateway`` runs it on a background thread (tests).
No access log: request lines and headers carry tokens.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from marketdata_assets.testkit.fakegateway import hub, rest
from marketdata_assets.testkit.fakegateway.feed import FeedClock
from marketdata_assets.testkit.fakegateway.state import Fault, GatewayState, Limits, parse_fault
from marketdata_assets.testkit.fakeproviders.background import BackgroundServer, parse_server_args

log = logging.getLogger("marketdata.fakegateway")
DEFAULT_PORT = 8910


async def _get_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": request.app[rest.STATE].faults()})


async def _post_faults(request: web.Request) -> web.Response:
    try:
        data = await request.json()
        fault = Fault(mode=str(data.get("mode", "ok")), count=data.get("count"),
                      delay_s=float(data.get("delay_s", 30.0)), retry_after=data.get("retry_after"))
        request.app[rest.STATE].set_fault(str(data.get("target", "*")), fault)
    except (ValueError, TypeError, AttributeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"faults": request.app[rest.STATE].faults()})


async def _get_requests(request: web.Request) -> web.Response:
    return web.json_response({"requests": request.app[rest.STATE].requests(request.query.get("endpoint"))})


async def _delete_requests(request: web.Request) -> web.Response:
    request.app[rest.STATE].clear_requests()
    return web.json_response({"requests": []})


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def build_app(state: GatewayState | None = None, feed: FeedClock | None = None) -> web.Application:
    app = web.Application()
    app[rest.STATE] = state = state or GatewayState()
    hub.add_routes(app, hub.Hub(state, feed or FeedClock(datetime.now(UTC))))
    app.router.add_get("/_control/health", _health)
    app.router.add_get("/_control/faults", _get_faults)
    app.router.add_post("/_control/faults", _post_faults)
    app.router.add_get("/_control/requests", _get_requests)
    app.router.add_delete("/_control/requests", _delete_requests)
    rest.add_routes(app)
    return app


def run_server(host: str = "127.0.0.1", port: int = DEFAULT_PORT, faults: dict[str, Fault] | None = None,
               feed: FeedClock | None = None, load_rate: float = 0.0, tick_s: float = 0.05) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM)."""
    log.info("fake ProjectX gateway on http://%s:%d (hub /hubs/market)", host, port)
    app = build_app(GatewayState(faults=faults), feed)
    app[hub.HUB].load_rate, app[hub.HUB].tick_s = load_rate, tick_s
    web.run_app(app, host=host, port=port, access_log=None, print=None, shutdown_timeout=1.0)


class FakeGateway(BackgroundServer):
    """The fake gateway on a background thread: ``with FakeGateway() as gw: ...``.

    ``port=0`` picks a free port; ``settings_env()`` is what to put in the environment;
    ``set_fault`` / ``requests`` act on the live state.
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1", limits: Limits | None = None,
                 faults: dict[str, Fault] | None = None, feed: FeedClock | None = None):
        self.state = GatewayState(limits, faults)
        super().__init__(build_app(self.state, feed), host, port, "fake gateway")
        self.hub = self._app[hub.HUB]

    def settings_env(self) -> dict[str, str]:
        return {"MARKETDATA_PROJECTX_API_URL": self.url, "MARKETDATA_PROJECTX_HUB_URL": f"{self.url}/hubs/market"}

    def set_fault(self, target: str, mode: str = "ok", **options: Any) -> None:
        self.state.set_fault(target, Fault(mode=mode, **options))

    def requests(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        return self.state.requests(endpoint)


def main(argv: list[str] | None = None) -> int:
    """``marketdata fake-gateway`` / ``python -m marketdata_assets.testkit.fakegateway``."""
    parser = argparse.ArgumentParser(prog="fake-gateway", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--fault", action="append", default=[], metavar="TARGET=MODE[,count=N][,delay_s=S]",
                        help="inject a fault at start-up (repeatable); targets: rest loginKey search retrieveBars "
                             "hub *; modes: 429 500 expire_token stall drop")
    parser.add_argument("--feed-start", default=None, metavar="ISO-TIME",
                        help="where the hub's feed clock starts (default: now); e.g. 2024-11-04T15:00:00Z")
    parser.add_argument("--feed-speed", type=float, default=1.0, help="feed seconds per wall-clock second")
    parser.add_argument("--load-rate", type=float, default=0.0,
                        help="benchmark load: this many trades/s per subscribed contract, stamped as sent")
    parser.add_argument("--tick-ms", type=float, default=50.0, help="hub send loop period in ms")
    args, faults = parse_server_args(parser, argv, parse_fault)
    start = datetime.fromisoformat(args.feed_start.replace("Z", "+00:00")) if args.feed_start else datetime.now(UTC)
    run_server(args.host, args.port, faults, FeedClock(start, args.feed_speed), args.load_rate, args.tick_ms / 1000)
    return 0
