"""Fake Polygon: aggregates with ``next_url`` pagination (pages of at most 1000 bars,
so one day of 1m bars already spans two pages), ticker details and the ticker list."""

from __future__ import annotations

import base64
import json
import re
from datetime import date, datetime, timedelta
from urllib.parse import unquote, urlencode, urlsplit

from marketdata_assets.testkit.fakeproviders.common import (
    Answer,
    Call,
    Recorded,
    from_epoch,
    is_invalid,
    local_midnight,
    request_id,
)
from marketdata_assets.testkit.fakeproviders.generator import daily_bars, minute_bars, profile_for, symbol_map

KEYED = True
PAGE_CAP = 1000
_AGGS = re.compile(r"/v2/aggs/ticker/([^/]+)/range/(\d+)/(\w+)/([^/]+)/([^/]+)")  # fullmatch, like every name check
_TICKER = re.compile(r"/v3/reference/tickers/([^/]+)")
_RECORDED_AGGS = "/v2/aggs/ticker/AAPL/range/1/day/2005-04-01/2005-04-04"


def has_key(call: Call) -> bool:
    return bool(call.query.get("apiKey")) or call.headers.get("Authorization", "").startswith("Bearer ")


def auth_error() -> Answer:
    return Answer(401, {"status": "ERROR", "request_id": "0" * 32, "error": "API Key was not provided"})


def rate_limited() -> Answer:
    return Answer(429, {"status": "ERROR", "request_id": "1" * 32, "error": (
        "You've exceeded the maximum requests per minute, please wait or upgrade your subscription "
        "to continue. https://polygon.io/pricing")})


def _bad(call: Call, message: str, status: int = 400) -> Answer:
    return Answer(status, {"status": "ERROR", "request_id": request_id(call), "error": message})


def _bound(value: str, tz: str, is_end: bool) -> datetime:
    """A ``from``/``to`` value: epoch ms, or a date meaning the whole local day."""
    if value.isdigit():
        return from_epoch(int(value) / 1000 + (0.001 if is_end else 0))
    day = date.fromisoformat(value)
    return local_midnight(day + timedelta(days=1) if is_end else day, tz)


def respond(call: Call, recorded: Recorded) -> Answer:
    if call.path == _RECORDED_AGGS and not call.empty:
        return Answer(200, recorded.load("polygon/v2_aggs_AAPL_range_1_day_2005-04-01_2005-04-04.json"))
    if match := _AGGS.fullmatch(call.path):
        return _aggs(call, *match.groups())
    if match := _TICKER.fullmatch(call.path):
        return _ticker(call, unquote(match.group(1)), recorded)
    if call.path == "/v3/reference/tickers":
        return _tickers(call, recorded)
    return Answer(404, {"status": "NOT_FOUND", "request_id": request_id(call), "message": "Not found"})


def _aggs(call: Call, ticker: str, mult: str, span: str, lo: str, hi: str) -> Answer:
    ticker = unquote(ticker)
    if mult != "1" or span not in ("minute", "day"):
        return _bad(call, f"this fake serves range/1/minute and range/1/day, not {mult}/{span}")
    profile = profile_for("polygon", ticker)
    try:
        start, end = _bound(lo, profile.tz, False), _bound(hi, profile.tz, True)
    except ValueError:
        return _bad(call, f"Could not parse the time parameter: {lo!r} / {hi!r}")
    index = ticker.upper().startswith("I:")
    results = [] if call.empty or is_invalid(ticker) else _results(profile, span, start, end, call, index)
    offset = int(json.loads(base64.urlsafe_b64decode(call.query["cursor"]))) if "cursor" in call.query else 0
    page_size = min(int(call.query.get("limit", 5000)), 50000, PAGE_CAP)
    page = results[offset:offset + page_size]
    body = {"ticker": ticker, "queryCount": len(page), "resultsCount": len(page), "adjusted": True,
            "status": "OK", "request_id": request_id(call), "count": len(page)}
    if page:
        body["results"] = page
    if offset + page_size < len(results):
        cursor = base64.urlsafe_b64encode(json.dumps(offset + page_size).encode()).decode()
        query = {k: v for k, v in call.query.items() if k not in ("apiKey", "cursor")}
        body["next_url"] = f"{call.base_url}{call.path}?{urlencode({**query, 'cursor': cursor})}"
    return Answer(200, body)


def _results(profile, span: str, start: datetime, end: datetime, call: Call, index: bool = False) -> list[dict]:
    rows = []
    if span == "minute":
        epochs, values = minute_bars(profile, start, end, call.now, call.corrections)
        for t, (o, h, low, c, v) in zip(epochs.tolist(), values.tolist(), strict=True):
            rows.append({"v": v, "vw": round((h + low + c) / 3, 4), "o": o, "c": c, "h": h, "l": low,
                         "t": int(t) * 1000, "n": int(v // 10) + 1})
        return rows
    stamp = timedelta(hours=1) if index else timedelta(0)  # Polygon stamps index days at 01:00 New York
    for day, (o, h, low, c, v) in daily_bars(profile, start.date() - timedelta(days=1), end.date()):
        label = local_midnight(day, profile.tz)
        if start <= label < end:
            rows.append({"v": v, "vw": round((h + low + c) / 3, 4), "o": o, "c": c, "h": h, "l": low,
                         "t": int((label + stamp).timestamp()) * 1000, "n": int(v // 10) + 1})
    return rows


def _ticker(call: Call, ticker: str, recorded: Recorded) -> Answer:
    if ticker == "AAPL" and not call.empty:
        return Answer(200, recorded.load("polygon/v3_reference_tickers_AAPL.json"))
    if is_invalid(ticker) or call.empty:
        return Answer(404, {"status": "NOT_FOUND", "request_id": request_id(call), "message": "Ticker not found."})
    profile = profile_for("polygon", ticker)
    return Answer(200, {"results": {
        "ticker": ticker, "name": f"{profile.generic} (fake)", "market": profile.asset_class,
        "locale": "us", "primary_exchange": "XFAK", "type": "CS", "active": True, "currency_name": "usd",
        "market_cap": profile.base_price * 1e9, "description": f"Synthetic details of {ticker}.",
    }, "status": "OK", "request_id": request_id(call)})


def _tickers(call: Call, recorded: Recorded) -> Answer:
    filters = {k: v for k, v in call.query.items() if k not in ("apiKey", "limit", "cursor")}
    page1 = recorded.load("polygon/v3_reference_tickers_page1.json")
    recorded_cursor = dict(p.split("=", 1) for p in urlsplit(page1["next_url"]).query.split("&"))["cursor"]
    if not filters and "cursor" not in call.query:
        return Answer(200, page1)
    if not filters and call.query.get("cursor") == recorded_cursor:
        return Answer(200, recorded.load("polygon/v3_reference_tickers_page2.json"))
    smap = symbol_map()
    wanted = filters.get("ticker")
    rows = [
        {"ticker": symbol, "name": f"{generic} (fake)", "market": smap.instrument(generic).asset_class,
         "locale": "global", "active": True}
        for generic in smap.generics
        if (symbol := smap.provider_symbol(generic, "polygon")) and (wanted is None or symbol == wanted)
    ]
    return Answer(200, {"results": rows, "status": "OK", "request_id": request_id(call), "count": len(rows)})
