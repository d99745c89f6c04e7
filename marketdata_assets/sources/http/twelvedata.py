"""Twelve Data: keyed (``apikey``), 8 requests per minute on the free tier, good FX and
index coverage (``EUR/USD``, ``XAU/USD``, ``NAS100``).

``GET /time_series?symbol=&interval=1min|1day&start_date=&end_date=&outputsize=5000``.
Shape: ``{"meta": {..., "exchange_timezone"}, "values": [...], "status": "ok"}`` with
``values`` newest first, every number a string, ``datetime`` in the exchange's local
time. Our range is in UTC while ``start_date``/``end_date`` are read in that (yet
unknown) exchange zone, so we ask for one extra day on each side and cut the exact
``[start, end)`` after converting to UTC. A page holds at most 5000 values, newest
first; older pages are fetched by moving ``end_date`` to the oldest value seen.
Currency pairs and crypto answer without ``meta.exchange_timezone`` (their meta carries
``currency_base``/``currency_quote`` instead); Twelve Data documents their times as UTC, so a
missing zone means UTC.
Errors: ``{"code", "message", "status": "error"}`` with HTTP 200 or the code as status;
429 → ``RateLimited``; "No data is available ..." (400) → an empty frame.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from marketdata_assets.errors import RateLimited, SchemaMismatch
from marketdata_assets.sources.http.base import (
    HttpProvider,
    Timeframe,
    bars_frame,
    check_range,
    clean_metadata,
    concat_bars,
    empty_bars,
    field,
    local_to_utc,
)
from marketdata_assets.sources.http.client import (
    AuthenticationFailed,
    NoData,
    ProviderError,
    TransientError,
)

NAME = "twelvedata"
INTERVALS = {"1m": "1min", "1d": "1day"}
PAGE_SIZE = 5000
MAX_PAGES = 200
_FMT = "%Y-%m-%d %H:%M:%S"


def describe(payload: Any) -> str | None:
    if isinstance(payload, dict) and payload.get("status") == "error":
        return f"{payload.get('code')}: {payload.get('message')}"
    return None


def inspect(status: int, payload: Any, request: str) -> None:
    """``status: error`` bodies → typed errors (HTTP 429/5xx go to the generic mapping,
    which also reads ``Retry-After``)."""
    if not isinstance(payload, dict) or payload.get("status") != "error":
        return
    if status == 429 or status >= 500:
        return
    try:
        code = int(payload.get("code") or status)
    except (TypeError, ValueError):
        code = status
    message = f"{describe(payload)} ({request})"
    if code == 429:
        raise RateLimited(NAME, message)
    if code >= 500:
        raise TransientError(NAME, message, kind="server_error")
    if code in (401, 403):
        raise AuthenticationFailed(NAME, message)
    if "no data is available" in str(payload.get("message", "")).lower():
        raise NoData(NAME, message)
    raise ProviderError(NAME, message)


def parse_time_series(body: Any, timeframe: Timeframe, *, request: str = "") -> pd.DataFrame:
    """One ``/time_series`` body (also one entry of a batch envelope) → bar frame."""
    try:
        inspect(200, body, request)
    except NoData:
        return empty_bars(NAME)
    meta = field(body, "meta", provider=NAME)
    tz = (meta.get("exchange_timezone") if isinstance(meta, dict) else None) or "UTC"  # FX, crypto: UTC
    values = list(field(body, "values", provider=NAME) or [])
    if not values:
        return empty_bars(NAME)
    if values[0].get("datetime", "") > values[-1].get("datetime", ""):
        values.reverse()  # newest first → chronological
    ts = local_to_utc([field(v, "datetime", provider=NAME) for v in values], tz, provider=NAME)
    columns = {c: [v.get(c) for v in values] for c in ("open", "high", "low", "close")}
    if any("volume" in v for v in values):
        columns["volume"] = [v.get("volume") for v in values]
    return bars_frame(ts, columns, provider=NAME, request=request, day_tz=tz if timeframe == "1d" else None)


class TwelveDataProvider(HttpProvider):
    name = NAME
    key_param = "apikey"
    inspect = staticmethod(inspect)
    describe = staticmethod(describe)

    def fetch_bars(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime) -> pd.DataFrame:
        check_range(timeframe, start, end)
        params = {
            "symbol": self.check_symbol(symbol),
            "interval": INTERVALS[timeframe],
            "start_date": (start.astimezone(UTC) - timedelta(days=1)).strftime(_FMT),
            "end_date": (end.astimezone(UTC) + timedelta(days=1)).strftime(_FMT),
            "outputsize": PAGE_SIZE,
        }
        frames = []
        for _ in range(MAX_PAGES):
            try:
                reply = self.client.get_json("/time_series", params)
            except NoData:
                break
            values = reply.payload.get("values") or []
            frames.append(parse_time_series(reply.payload, timeframe, request=reply.request))
            oldest = min((v.get("datetime", "") for v in values), default="")
            if len(values) < PAGE_SIZE or not oldest or oldest >= params["end_date"]:
                break
            params = {**params, "end_date": oldest}
        return concat_bars(frames, NAME, start, end)

    def fetch_metadata(self, symbol: str) -> dict[str, Any]:
        reply = self.client.get_json("/profile", {"symbol": self.check_symbol(symbol)})
        return parse_profile(reply.payload)


def parse_profile(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise SchemaMismatch(f"{NAME}: /profile answered with a {type(body).__name__}")
    return clean_metadata({
        "name": body.get("name"),
        "sector": body.get("sector"),
        "industry": body.get("industry"),
        "exchange": body.get("exchange"),
        "currency": body.get("currency"),
        "description": body.get("description"),
        "asset_type": body.get("type"),
    })

