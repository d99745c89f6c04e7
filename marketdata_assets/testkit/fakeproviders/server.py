"""A local stand-in for the REST data providers, for tests and demos without network.

Each provider lives under its own prefix on the real URL paths, so a provider's base
URL is simply ``http://HOST:PORT/<provider>`` (e.g. ``/yahoo/v8/finance/chart/AAPL``).
Answers are the recorded real responses when a request matches one, otherwise
deterministic generated bars in the provider's own JSON shape. Keyed providers insist
on a key (any non-empty value) and answer with their real error shape without one.

Control API (JSON):
- ``POST /_control/faults {"provider": "yahoo"|"*", "mode": "429"|"500"|"timeout"|
  "malformed"|"empty"|"401"|"ok", "retry_after": 1, "count": N, "delay_s": 30}``;
  ``GET /_control/faults``
- ``GET /_control/requests[?provider=yahoo]`` → ``{"requests": [{provider, path, query
  (keys redacted), t, monotonic, status, fault}]}``; ``DELETE /_control/requests``
- ``GET /_control/health``

Live mode (``FakeProviders(clock=...)``, epoch seconds): nothing after the clock is served and
the minute containing it is forming; ``state.correct(instrument, minute, close=...)`` revises a
minute bar on every provider (see ``generator``).

``run_server`` blocks (CLI); ``FakeProviders`` runs it on a background thread (tests).
The server keeps no access log: request lines carry keys.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from aiohttp import web

from marketdata_assets.testkit.fakeproviders import alphavantage, coinmarketcap, polygon, twelvedata, yahoo
from marketdata_assets.testkit.fakeproviders.background import BackgroundServer, parse_server_args
from marketdata_assets.testkit.fakeproviders.common import Answer, Call, Recorded
from marketdata_assets.testkit.fakeproviders.state import PROVIDERS, FakeState, Fault, parse_fault

log = logging.getLogger("marketdata.fakeproviders")

RESPONDERS: dict[str, ModuleType] = {
    "yahoo": yahoo, "alphavantage": alphavantage, "twelvedata": twelvedata,
    "polygon": polygon, "coinmarketcap": coinmarketcap,
}
DEFAULT_PORT = 8900
_STATE = web.AppKey("state", FakeState)
_RECORDED = web.AppKey("recorded", Recorded)


def _to_response(answer: Answer) -> web.Response:
    if isinstance(answer.body, str):
        return web.Response(status=answer.status, text=answer.body, headers=dict(answer.headers),
                            content_type=answer.content_type)
    return web.Response(status=answer.status, text=json.dumps(answer.body), headers=dict(answer.headers),
                        content_type="application/json")


def _apply_fault(module: ModuleType, call: Call, fault: Fault | None, recorded: Recorded) -> Answer:
    mode = fault.mode if fault else "ok"
    retry_after = {"Retry-After": f"{fault.retry_after:g}"} if fault and fault.retry_after is not None else {}
    if mode == "401" or (module.KEYED and not module.has_key(call)):
        return module.auth_error()
    if mode == "429":
        answer = module.rate_limited()
        return Answer(answer.status, answer.body, {**answer.headers, **retry_after}, answer.content_type)
    if mode == "500":
        return Answer(500, "<html><body><h1>500 Internal Server Error</h1></body></html>", retry_after,
                      content_type="text/html")
    try:
        answer = module.respond(replace(call, empty=mode == "empty"), recorded)
    except ValueError as exc:  # bad parameters: tell the client, like a real API would
        log.info("%s %s: bad request: %s", call.provider, call.path, exc)
        return Answer(400, f"bad request: {exc}", content_type="text/plain")
    if mode == "malformed" and answer.status == 200:
        whole = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
        return Answer(200, whole[: max(1, len(whole) // 2)], content_type="application/json")
    return answer


async def _provider(request: web.Request) -> web.Response:
    provider = request.match_info["provider"]
    module = RESPONDERS.get(provider)
    if module is None:
        return web.Response(status=404, text=f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
    state = request.app[_STATE]
    path = "/" + request.match_info["tail"]
    query = dict(request.query)
    entry = state.record(provider, request.method, path, query)
    fault = state.take_fault(provider)
    entry["fault"] = fault.mode if fault else None
    if fault and fault.mode == "timeout":
        await asyncio.sleep(fault.delay_s)
    call = Call(provider, path, query, dict(request.headers), f"{request.scheme}://{request.host}/{provider}",
                now=state.now(), corrections=state.corrections() or None)
    # Generating bars is CPU work: keep it off the event loop so other requests are
    # still received (and logged) on time while one is being built.
    answer = await asyncio.get_running_loop().run_in_executor(
        None, _apply_fault, module, call, fault, request.app[_RECORDED]
    )
    entry["status"] = answer.status
    log.debug("%s GET %s -> %d%s", provider, path, answer.status, f" (fault {fault.mode})" if fault else "")
    return _to_response(answer)


async def _get_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": request.app[_STATE].faults()})


async def _post_faults(request: web.Request) -> web.Response:
    try:
        data = await request.json()
        provider = data.get("provider", "*")
        request.app[_STATE].set_fault(provider, Fault.from_dict(data))
    except (ValueError, TypeError, AttributeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"faults": request.app[_STATE].faults()})


async def _get_requests(request: web.Request) -> web.Response:
    return web.json_response({"requests": request.app[_STATE].requests(request.query.get("provider"))})


async def _delete_requests(request: web.Request) -> web.Response:
    request.app[_STATE].clear_requests()
    return web.json_response({"requests": []})


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "providers": list(PROVIDERS)})


def build_app(state: FakeState | None = None, recorded_dir: str | Path | None = None) -> web.Application:
    app = web.Application()
    app[_STATE] = state or FakeState()
    app[_RECORDED] = Recorded(recorded_dir)
    app.router.add_get("/_control/health", _health)
    app.router.add_get("/_control/faults", _get_faults)
    app.router.add_post("/_control/faults", _post_faults)
    app.router.add_get("/_control/requests", _get_requests)
    app.router.add_delete("/_control/requests", _delete_requests)
    app.router.add_get("/{provider}/{tail:.*}", _provider)
    return app


def run_server(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    faults: dict[str, Fault] | None = None,
    recorded_dir: str | Path | None = None,
) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM)."""
    app = build_app(FakeState(faults), recorded_dir)
    log.info("fake providers on http://%s:%d/<provider> (%s)", host, port, ", ".join(PROVIDERS))
    web.run_app(app, host=host, port=port, access_log=None, print=None, shutdown_timeout=1.0)


class FakeProviders(BackgroundServer):
    """The fake server on a background thread: ``with FakeProviders() as fake: ...``.

    ``port=0`` picks a free port. ``base_url(provider)`` is what to put in
    ``MARKETDATA_<PROVIDER>_BASE_URL``; ``set_fault``/``requests`` act on the live state.
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1", faults: dict[str, Fault] | None = None,
                 recorded_dir: str | Path | None = None, clock=None):
        self.state = FakeState(faults, clock)
        super().__init__(build_app(self.state, recorded_dir), host, port, "fake provider server")

    def base_url(self, provider: str) -> str:
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}; known: {PROVIDERS}")
        return f"{self.url}/{provider}"

    def settings_env(self) -> dict[str, str]:
        """``MARKETDATA_<PROVIDER>_BASE_URL`` for every provider, pointing here."""
        return {f"MARKETDATA_{p.upper()}_BASE_URL": self.base_url(p) for p in PROVIDERS}

    def set_fault(self, provider: str, mode: str = "ok", **options: Any) -> None:
        self.state.set_fault(provider, Fault(mode=mode, **options))

    def requests(self, provider: str | None = None) -> list[dict[str, Any]]:
        return self.state.requests(provider)

    def clear_requests(self) -> None:
        self.state.clear_requests()


def main(argv: list[str] | None = None) -> int:
    """``marketdata fake-providers`` / ``python -m marketdata_assets.testkit.fakeproviders``."""
    parser = argparse.ArgumentParser(prog="fake-providers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--fault", action="append", default=[], metavar="PROVIDER=MODE[,retry_after=S][,count=N]",
                        help="inject a fault at start-up (repeatable); modes: 429 500 timeout malformed empty 401")
    parser.add_argument("--recorded-dir", default=None, help="directory of recorded responses")
    args, faults = parse_server_args(parser, argv, parse_fault)
    run_server(args.host, args.port, faults, args.recorded_dir)
    return 0
