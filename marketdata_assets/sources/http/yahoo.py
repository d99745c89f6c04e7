"""Yahoo Finance chart v8: keyless, broad coverage (futures ``NQ=F``, FX ``EURUSD=X``,
crypto ``BTC-USD``), hence first in the default priority.

``GET /v8/finance/chart/{symbol}?interval=1m|1d&period1=<epoch s>&period2=<epoch s>``.
Shape: ``chart.result[0].timestamp`` (epoch seconds, bar start) and
``indicators.quote[0].{open,high,low,close,volume}`` arrays that contain nulls for
minutes without trades; a range without trading (weekend) has no ``timestamp`` at all.
Errors: ``chart.error {code, description}`` with 404/400, and a plain-text 429.
Yahoo serves 1m bars for at most 7 days per request, so longer ranges are chunked.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import pandas as pd

from marketdata_assets.sources.http.base import (
    HttpProvider,
    Timeframe,
    bars_frame,
    check_range,
    clean_metadata,
    concat_bars,
    empty_bars,
    field,
)
from marketdata_assets.sources.http.client import AuthenticationFailed, ProviderError

NAME = "yahoo"
_CHUNK = {"1m": timedelta(days=7), "1d": timedelta(days=3650)}


def _error_of(payload: Any) -> dict | None:
    if not isinstance(payload, dict):
        return None
    for top in ("chart", "finance"):
        node = payload.get(top)
        if isinstance(node, dict) and isinstance(node.get("error"), dict):
            return node["error"]
    return None


def describe(payload: Any) -> str | None:
    error = _error_of(payload)
    if error is None:
        return None
    return f"{error.get('code')}: {error.get('description')}"


def inspect(status: int, payload: Any, request: str) -> None:
    """Raise the typed error for Yahoo's JSON error bodies (429/5xx go to generic retry)."""
    error = _error_of(payload)
    if error is None or status == 429 or status >= 500:
        return
    if status in (401, 403) or error.get("code") == "Unauthorized":
        raise AuthenticationFailed(NAME, f"{describe(payload)} ({request})")
    raise ProviderError(NAME, f"{describe(payload)} ({request})")


def parse_chart(body: Any, timeframe: Timeframe, *, request: str = "") -> pd.DataFrame:
    """A chart v8 body → bar frame (see ``base`` for the daily label rule)."""
    error = _error_of(body)
    if error is not None:
        raise ProviderError(NAME, f"{describe(body)} ({request})")
    result = field(body, "chart", "result", 0, provider=NAME)
    stamps = result.get("timestamp") or []
    if not stamps:
        return empty_bars(NAME)
    quote_ = field(result, "indicators", "quote", 0, provider=NAME)
    ts = pd.DatetimeIndex(pd.to_datetime(stamps, unit="s", utc=True))
    day_tz = field(result, "meta", "exchangeTimezoneName", provider=NAME) if timeframe == "1d" else None
    return bars_frame(ts, quote_, provider=NAME, request=request, day_tz=day_tz)


class YahooProvider(HttpProvider):
    name = NAME
    # Yahoo refuses clients that do not look like a browser or a known library.
    headers = {"User-Agent": "Mozilla/5.0 (compatible; marketdata-assets/0.1)", "Accept": "application/json"}
    inspect = staticmethod(inspect)
    describe = staticmethod(describe)

    def _path(self, symbol: str) -> str:
        return "/v8/finance/chart/" + quote(self.check_symbol(symbol), safe="=^.-_")

    def fetch_bars(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime) -> pd.DataFrame:
        check_range(timeframe, start, end)
        path = self._path(symbol)
        frames, lo = [], start
        while lo < end:
            hi = min(lo + _CHUNK[timeframe], end)
            params = {
                "interval": timeframe,
                "period1": int(lo.timestamp()),
                "period2": math.ceil(hi.timestamp()),
                "includePrePost": "true",
            }
            reply = self.client.get_json(path, params)
            frames.append(parse_chart(reply.payload, timeframe, request=reply.request))
            lo = hi
        return concat_bars(frames, NAME, start, end)

    def fetch_metadata(self, symbol: str) -> dict[str, Any]:
        """What the chart meta says (name, exchange, currency, type); Yahoo's richer
        quoteSummary needs a cookie/crumb dance that is not worth it here."""
        reply = self.client.get_json(self._path(symbol), {"range": "1d", "interval": "1d"})
        meta = field(reply.payload, "chart", "result", 0, "meta", provider=NAME)
        return clean_metadata({
            "name": meta.get("longName") or meta.get("shortName"),
            "exchange": meta.get("fullExchangeName") or meta.get("exchangeName"),
            "currency": meta.get("currency"),
            "asset_type": meta.get("instrumentType"),
        })
