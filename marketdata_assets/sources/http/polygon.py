"""Polygon (now also branded Massive): keyed (``apiKey`` query parameter), 5 requests
per minute on the free tier, exact millisecond ranges, reference data for the catalog.

- ``/v2/aggs/ticker/{ticker}/range/1/{minute|day}/{from}/{to}``: ``results[]`` with
  ``t`` (epoch ms, bar start), ``o h l c v``; no ``results`` key when there is nothing;
  ``next_url`` when there is more. Daily bars are New York days for US stocks, options
  and indices (stocks stamped 00:00, indices 01:00) and UTC days for currencies (``C:``)
  and crypto (``X:``); ``bars_frame`` labels them by the common rule (``base``).
- ``/v3/reference/tickers/{ticker}`` (metadata) and ``/v3/reference/tickers`` (listing,
  paginated with ``next_url``).

``next_url`` carries no key; ``HttpClient.get_next`` follows it on our own base URL and
the key is added again by the client's transport, so pagination needs nothing special.
Errors: 401/403 (``{"status": "ERROR"|"NOT_AUTHORIZED", "error"|"message"}``), 429.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pandas as pd

from marketdata_assets.errors import SchemaMismatch
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
from marketdata_assets.sources.http.client import AuthenticationFailed, ProviderError, Reply

NAME = "polygon"
SPANS = {"1m": "minute", "1d": "day"}
PAGE_LIMIT = 50000
MAX_PAGES = 200


def describe(payload: Any) -> str | None:
    if isinstance(payload, dict) and ("error" in payload or "message" in payload):
        return f"{payload.get('status')}: {payload.get('error') or payload.get('message')}"
    return None


def inspect(status: int, payload: Any, request: str) -> None:
    """Error bodies sent with HTTP 200 (or 401/403 with a JSON reason) → typed errors."""
    if not isinstance(payload, dict):
        return
    state = str(payload.get("status", "")).upper()
    if state == "NOT_AUTHORIZED" or status in (401, 403):
        raise AuthenticationFailed(NAME, f"{describe(payload)} ({request})")
    if status < 300 and state == "ERROR":
        raise ProviderError(NAME, f"{describe(payload)} ({request})")


def day_zone(ticker: str) -> str:
    """The zone whose calendar days Polygon's daily bars of ``ticker`` cover."""
    return "UTC" if ticker.upper().startswith(("C:", "X:")) else "America/New_York"


def parse_aggs(body: Any, timeframe: Timeframe, *, request: str = "", ticker: str | None = None) -> pd.DataFrame:
    """One aggregates page → bar frame; daily bars get the common label whatever Polygon
    stamped (``ticker``: the requested one, else the body's)."""
    inspect(200, body, request)
    results = (body.get("results") or []) if isinstance(body, dict) else None
    if results is None:
        raise SchemaMismatch(f"{NAME}: aggregates answered with a {type(body).__name__}")
    if not results:
        return empty_bars(NAME)
    ts = pd.DatetimeIndex(pd.to_datetime([field(r, "t", provider=NAME) for r in results], unit="ms", utc=True))
    columns = {
        name: [r.get(key) for r in results]
        for name, key in (("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"), ("volume", "v"))
    }
    day_tz = day_zone(ticker or str(body.get("ticker", ""))) if timeframe == "1d" else None
    return bars_frame(ts, columns, provider=NAME, request=request, day_tz=day_tz)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class PolygonProvider(HttpProvider):
    name = NAME
    key_param = "apiKey"
    inspect = staticmethod(inspect)
    describe = staticmethod(describe)

    def _ticker(self, symbol: str) -> str:
        return quote(self.check_symbol(symbol), safe=":.-_")

    def _pages(self, path: str, params: dict[str, Any]) -> list[Reply]:
        replies = [self.client.get_json(path, params)]
        while (next_url := replies[-1].payload.get("next_url")) and len(replies) < MAX_PAGES:
            replies.append(self.client.get_next(next_url))
        if replies[-1].payload.get("next_url"):
            raise ProviderError(NAME, f"more than {MAX_PAGES} pages for {replies[0].request}")
        return replies

    def fetch_bars(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime) -> pd.DataFrame:
        check_range(timeframe, start, end)
        if timeframe == "1m":
            lo, hi = str(_ms(start)), str(_ms(end) - 1)  # `to` is inclusive
        else:
            lo = start.astimezone(UTC).date().isoformat()
            hi = (end.astimezone(UTC) - timedelta(microseconds=1)).date().isoformat()
        path = f"/v2/aggs/ticker/{self._ticker(symbol)}/range/1/{SPANS[timeframe]}/{lo}/{hi}"
        params = {"adjusted": "true", "sort": "asc", "limit": PAGE_LIMIT}
        frames = [parse_aggs(r.payload, timeframe, request=r.request, ticker=symbol) for r in self._pages(path, params)]
        return concat_bars(frames, NAME, start, end)

    def fetch_metadata(self, symbol: str) -> dict[str, Any]:
        reply = self.client.get_json(f"/v3/reference/tickers/{self._ticker(symbol)}")
        return parse_ticker(reply.payload)

    def list_tickers(self, **filters: Any) -> list[dict[str, Any]]:
        """``/v3/reference/tickers`` with the given filters, all pages."""
        pages = self._pages("/v3/reference/tickers", filters)
        return [row for page in pages for row in (page.payload.get("results") or [])]


def parse_ticker(body: Any) -> dict[str, Any]:
    results = field(body, "results", provider=NAME)
    currency = results.get("currency_name")
    return clean_metadata({
        "name": results.get("name"),
        "industry": results.get("sic_description"),
        "exchange": results.get("primary_exchange"),
        "currency": currency.upper() if isinstance(currency, str) else None,
        "market_cap": results.get("market_cap"),
        "description": results.get("description"),
        "asset_type": results.get("type"),
    })
