"""The fake gateway's REST face: ``/api/Auth/loginKey``, ``/api/Contract/search``,
``/api/History/retrieveBars`` with the documented JSON bodies, bearer tokens, the rate
limits of ``state`` (HTTP 429 beyond them) and injected faults.

Errors come the way the gateway sends them: HTTP 401 with an empty body for a missing,
unknown or expired token; HTTP 200 with ``success: false``, an ``errorCode`` and an
``errorMessage`` for a request it understood and refused.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime

from aiohttp import web

from marketdata_assets.testkit.fakegateway import catalog, market
from marketdata_assets.testkit.fakegateway.state import GatewayState

log = logging.getLogger("marketdata.fakegateway")

MAX_BARS = 20_000
STATE = web.AppKey("gateway_state", GatewayState)


def _ok(**body) -> web.Response:
    return web.json_response({**body, "success": True, "errorCode": 0, "errorMessage": None})


def _refused(code: int, message: str | None, **body) -> web.Response:
    return web.json_response({**body, "success": False, "errorCode": code, "errorMessage": message})


def _time(value: object, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{name} is not an ISO-8601 time: {value!r}") from exc
    if moment.tzinfo is None:
        raise ValueError(f"{name} has no time zone: {value!r}")
    return moment


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:] if header.startswith("Bearer ") else None


async def _gate(request: web.Request, endpoint: str, body: dict) -> tuple[dict, web.Response | None]:
    """Log, apply faults, check the token and the rate limit; a Response when refused."""
    state = request.app[STATE]
    entry = state.record(endpoint, body)
    fault = state.take_fault(endpoint, "rest")
    entry["fault"] = fault.mode if fault else None
    refusal = None
    if fault and fault.mode == "expire_token":
        state.expire_tokens()
    if fault and fault.mode in ("429", "500"):
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        refusal = web.Response(status=int(fault.mode), text="Too Many Requests" if fault.mode == "429"
                               else "Internal Server Error", headers=headers)
    elif endpoint != "loginKey" and not state.token_valid(bearer(request)):
        refusal = web.Response(status=401)
    else:
        wait = state.admit(bearer(request) or "anonymous", endpoint)
        if wait is not None:
            refusal = web.Response(status=429, text="Too Many Requests", headers={"Retry-After": f"{wait:.0f}"})
    entry["status"] = refusal.status if refusal is not None else 200
    return entry, refusal


async def _body(request: web.Request) -> dict:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return data


async def login_key(request: web.Request) -> web.Response:
    body = await _body(request)
    _, refusal = await _gate(request, "loginKey", body)
    if refusal is not None:
        return refusal
    if not body.get("userName") or not body.get("apiKey") or str(body["apiKey"]).startswith("invalid"):
        return _refused(3, None, token=None)
    return _ok(token=request.app[STATE].issue_token(str(body["userName"])))


async def contract_search(request: web.Request) -> web.Response:
    body = await _body(request)
    _, refusal = await _gate(request, "search", body)
    if refusal is not None:
        return refusal
    return _ok(contracts=[c.as_json() for c in catalog.search(str(body.get("searchText") or ""))])


def _bars_json(body: dict) -> tuple[int, str | None, list[dict]]:
    contract = catalog.CONTRACTS.get(str(body.get("contractId")))
    if contract is None:
        return 1, f"Contract {body.get('contractId')!r} not found", []
    try:
        start, end = _time(body.get("startTime"), "startTime"), _time(body.get("endTime"), "endTime")
        unit, number = int(body.get("unit", 2)), int(body.get("unitNumber", 1))
        limit = min(MAX_BARS, int(body.get("limit", MAX_BARS)))
        frame = market.bars(contract, start, end, unit, number)
    except (TypeError, ValueError) as exc:
        return 2, str(exc), []
    newest = frame.iloc[::-1].head(limit)
    stamps = newest["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00").tolist()
    cols = [newest[c].tolist() for c in ("open", "high", "low", "close", "volume")]
    return 0, None, [{"t": t, "o": o, "h": h, "l": lo, "c": c, "v": int(v)}
                     for t, o, h, lo, c, v in zip(stamps, *cols, strict=True)]


async def retrieve_bars(request: web.Request) -> web.Response:
    body = await _body(request)
    entry, refusal = await _gate(request, "retrieveBars", body)
    if refusal is not None:
        return refusal
    # building bars is CPU work: keep the loop free for other requests (and the hub)
    code, message, bars = await asyncio.get_running_loop().run_in_executor(None, _bars_json, body)
    entry["bars"] = len(bars)
    if code:
        return _refused(code, message, bars=None)
    return _ok(bars=bars)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/Auth/loginKey", login_key)
    app.router.add_post("/api/Contract/search", contract_search)
    app.router.add_post("/api/History/retrieveBars", retrieve_bars)
