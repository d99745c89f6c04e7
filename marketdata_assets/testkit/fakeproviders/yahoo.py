"""Fake Yahoo chart v8: recorded bodies for the recorded requests, generated bars in
Yahoo's shape otherwise (arrays with a few nulls, no ``timestamp`` for an empty range)."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlsplit

from marketdata_assets.testkit.fakeproviders.common import (
    Answer,
    Call,
    Recorded,
    from_epoch,
    is_invalid,
    local_midnight,
    now_utc,
    text,
)
from marketdata_assets.testkit.fakeproviders.generator import daily_bars, minute_bars, profile_for

KEYED = False
_CHART = re.compile(r"/v8/finance/chart/([^/]+)")  # fullmatch, like every name check
_RANGES = {"1d": 1, "5d": 5, "1mo": 30, "3mo": 90}
_TYPES = {"equity": "EQUITY", "index": "FUTURE", "commodity": "FUTURE", "fx": "CURRENCY", "crypto": "CRYPTOCURRENCY"}


def has_key(call: Call) -> bool:
    return True


def auth_error() -> Answer:
    return Answer(401, {"finance": {"result": None, "error": {"code": "Unauthorized", "description": "Invalid Crumb"}}})


def rate_limited() -> Answer:
    return text(429, "Too Many Requests\r\n")


def _error(status: int, code: str, description: str) -> Answer:
    return Answer(status, {"chart": {"result": None, "error": {"code": code, "description": description}}})


def _recorded(call: Call, symbol: str, recorded: Recorded) -> Answer | None:
    for relpath in recorded.files("yahoo"):
        doc = recorded.load(relpath)
        url = urlsplit(doc["request"]["url"])
        want = {k: v[0] for k, v in parse_qs(url.query).items()}
        if unquote(url.path.rsplit("/", 1)[-1]) != symbol:
            continue
        if all(call.query.get(k) == want.get(k) for k in ("interval", "period1", "period2")):
            return Answer(doc["response"]["status"], doc["response"]["bodyJson"])
    return None


def respond(call: Call, recorded: Recorded) -> Answer:
    match = _CHART.fullmatch(call.path)
    if not match:
        return Answer(404, {"finance": {"result": None, "error": {"code": "Not Found", "description": "HTTP 404 Not Found"}}})
    symbol = unquote(match.group(1))
    interval = call.query.get("interval", "1d")
    if interval not in ("1m", "1d"):
        return _error(400, "Bad Request", f"Invalid input - interval={interval} is not supported by this fake")
    if is_invalid(symbol):
        return _error(404, "Not Found", "No data found, symbol may be delisted")
    found = _recorded(call, symbol, recorded)
    if found is not None:
        return found
    if "period1" in call.query:
        start = from_epoch(int(call.query["period1"]))
        end = from_epoch(int(call.query.get("period2", now_utc().timestamp())))
    else:
        end = now_utc()
        start = end - timedelta(days=_RANGES.get(call.query.get("range", "1d"), 1))
    profile = profile_for("yahoo", symbol)
    stamps: list[int] = []
    columns: dict[str, list] = {k: [] for k in ("open", "high", "low", "close", "volume")}
    if not call.empty and interval == "1m":
        epochs, values = minute_bars(profile, start, end, call.now, call.corrections)
        stamps = [int(t) for t in epochs]
        for i, key in enumerate(columns):
            columns[key] = [float(v) for v in values[:, i]]
        for j, t in enumerate(stamps):  # Yahoo leaves holes for minutes without trades
            if (t // 60) % 97 == 13:
                for key in columns:
                    columns[key][j] = None
    elif not call.empty:
        for day, bar in daily_bars(profile, start.date() - timedelta(days=1), end.date()):
            label = int(local_midnight(day, profile.tz).timestamp())
            if start.timestamp() <= label < end.timestamp():
                stamps.append(label)
                for key, value in zip(columns, bar, strict=True):
                    columns[key].append(value)
    meta = {
        "currency": "USD", "symbol": symbol, "exchangeName": "FAK", "fullExchangeName": "Fake Exchange",
        "instrumentType": _TYPES.get(profile.asset_class, "EQUITY"), "exchangeTimezoneName": profile.tz,
        "longName": f"{profile.generic} (fake)", "dataGranularity": interval,
    }
    result = {"meta": meta, "indicators": {"quote": [columns if stamps else {}]}}
    if stamps:
        result["timestamp"] = stamps
    return Answer(200, {"chart": {"result": [result], "error": None}})
