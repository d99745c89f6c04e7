"""Alpha Vantage: keyed (``apikey`` query parameter, the only way it accepts one),
5 requests per minute on the free tier, company fundamentals through ``OVERVIEW``.

``GET /query?function=...``. Which function depends on the kind of symbol, written in
the symbol itself (see ``reference/symbol_map.json``):

- ``NDX``, ``IBM``: ``TIME_SERIES_INTRADAY`` (one request per US/Eastern calendar month,
  ``month=``; the latest bars of a polling loop, declared with ``call_policy(asof=...)``,
  from the compact series instead)
  and ``TIME_SERIES_DAILY``;
- ``FX:EUR/USD`` (or plain ``EUR/USD``): ``FX_INTRADAY`` / ``FX_DAILY`` with
  ``from_symbol``/``to_symbol`` (FX intraday only serves the latest bars);
- ``CRYPTO:BTC/USD``: ``CRYPTO_INTRADAY`` / ``DIGITAL_CURRENCY_DAILY`` with ``market``.

Shape: ``Meta Data`` (with a ``"N. Time Zone"`` entry: timestamps are exchange-local,
e.g. US/Eastern) and a ``"Time Series ..."`` object keyed by local time, newest first,
values as strings under ``"1. open"`` .. ``"5. volume"``. Errors and throttling come as
HTTP 200: ``Note`` / ``Information`` (→ ``RateLimited``), ``Error Message`` (→
``ProviderError``, or ``AuthenticationFailed`` when it is about the key).
"""

from __future__ import annotations

import re
from datetime import datetime
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
from marketdata_assets.sources.http.client import AuthenticationFailed, NotSupported, ProviderError, call_asof

NAME = "alphavantage"
_FIELD = re.compile(r"^\d+[a-z]?\.\s*([a-z]+)")


def describe(payload: Any) -> str | None:
    if isinstance(payload, dict):
        for key in ("Error Message", "Note", "Information"):
            if key in payload:
                return str(payload[key])
    return None


def inspect(status: int, payload: Any, request: str) -> None:
    """HTTP-200 error shapes → typed errors."""
    if not isinstance(payload, dict) or status >= 500 or status == 429:
        return
    if "Error Message" in payload:
        message = str(payload["Error Message"])
        if "apikey" in message.lower():
            raise AuthenticationFailed(NAME, f"{message} ({request})")
        raise ProviderError(NAME, f"{message} ({request})")
    for key in ("Note", "Information"):
        if key in payload:
            raise RateLimited(NAME, f"{payload[key]} ({request})")


def split_symbol(symbol: str) -> tuple[str, str, str | None]:
    """``"NDX"`` → ("equity", "NDX", None); ``"FX:EUR/USD"`` → ("fx", "EUR", "USD");
    ``"CRYPTO:BTC/USD"`` → ("crypto", "BTC", "USD")."""
    kind, _, rest = symbol.rpartition(":")
    kind = kind.lower() or ("fx" if "/" in rest else "equity")
    if kind == "equity":
        return kind, rest, None
    base, sep, quote = rest.partition("/")
    if kind not in ("fx", "crypto") or not sep or not base or not quote:
        raise ProviderError(NAME, f"cannot read {symbol!r} as an Alpha Vantage symbol")
    return kind, base, quote


def parse_time_series(body: Any, timeframe: Timeframe, *, request: str = "") -> pd.DataFrame:
    """Any ``Time Series ...`` body (stock, FX, crypto; intraday or daily) → bar frame."""
    inspect(200, body, request)
    meta = field(body, "Meta Data", provider=NAME)
    tz = next((v for k, v in meta.items() if k.endswith("Time Zone")), None)
    if tz is None:
        raise SchemaMismatch(f"{NAME}: 'Meta Data' has no time zone ({request})")
    series_key = next((k for k in body if k.startswith("Time Series")), None)
    if series_key is None:
        raise SchemaMismatch(f"{NAME}: response has no 'Time Series' object ({request})")
    series: dict[str, dict[str, str]] = body[series_key] or {}
    if not series:
        return empty_bars(NAME)
    stamps = list(series)
    if stamps[0] > stamps[-1]:
        stamps.reverse()  # newest first → chronological, keeps a repeated DST hour in order
    names: dict[str, str] = {}
    for key in series[stamps[0]]:
        match = _FIELD.match(key)
        if match and match.group(1) not in names:
            names[match.group(1)] = key
    columns = {name: [series[s].get(key) for s in stamps] for name, key in names.items()}
    ts = local_to_utc(stamps, tz, provider=NAME)
    return bars_frame(ts, columns, provider=NAME, request=request, day_tz=tz if timeframe == "1d" else None)


# Alpha Vantage reads ``month=`` (and stamps equity intraday bars) in US/Eastern.
MONTH_ZONE = "America/New_York"
COMPACT_S = 90 * 60  # a range starting within this of ``asof`` fits the compact intraday series (100 bars)


def _months(start: datetime, end: datetime) -> list[str]:
    """The US/Eastern calendar months ``[start, end)`` touches (``month=`` values)."""
    first = pd.Timestamp(start).tz_convert(MONTH_ZONE).tz_localize(None)
    last = pd.Timestamp(end).tz_convert(MONTH_ZONE).tz_localize(None) - pd.Timedelta(microseconds=1)
    months = pd.period_range(first, max(first, last), freq="M")
    return [str(m) for m in months]


class AlphaVantageProvider(HttpProvider):
    name = NAME
    key_param = "apikey"
    inspect = staticmethod(inspect)
    describe = staticmethod(describe)

    def _requests(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime) -> list[dict]:
        kind, base, quote = split_symbol(self.check_symbol(symbol))
        if kind == "fx":
            function = "FX_INTRADAY" if timeframe == "1m" else "FX_DAILY"
            pair = {"from_symbol": base, "to_symbol": quote}
        elif kind == "crypto":
            function = "CRYPTO_INTRADAY" if timeframe == "1m" else "DIGITAL_CURRENCY_DAILY"
            pair = {"symbol": base, "market": quote}
        else:
            function = "TIME_SERIES_INTRADAY" if timeframe == "1m" else "TIME_SERIES_DAILY"
            pair = {"symbol": base}
        params = {"function": function, **pair, "outputsize": "full"}
        if timeframe == "1m":
            params["interval"] = "1min"
        if function == "DIGITAL_CURRENCY_DAILY":
            del params["outputsize"]
        if function != "TIME_SERIES_INTRADAY":
            return [params]
        asof = call_asof()
        if asof is not None and start.timestamp() >= asof - COMPACT_S and end.timestamp() <= asof + 120:
            # the latest bars (a polling loop): the compact series holds the last 100 minutes
            return [{**params, "outputsize": "compact", "extended_hours": "true"}]
        # Past months of stock intraday data are only reachable one month at a time.
        return [{**params, "month": m, "extended_hours": "true"} for m in _months(start, end)]

    def fetch_bars(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime) -> pd.DataFrame:
        check_range(timeframe, start, end)
        frames = []
        for params in self._requests(symbol, timeframe, start, end):
            reply = self.client.get_json("/query", params)
            frames.append(parse_time_series(reply.payload, timeframe, request=reply.request))
        return concat_bars(frames, NAME, start, end)

    def fetch_metadata(self, symbol: str) -> dict[str, Any]:
        kind, base, _ = split_symbol(self.check_symbol(symbol))
        if kind != "equity":
            raise NotSupported(NAME, f"no metadata endpoint for {kind} symbols")
        reply = self.client.get_json("/query", {"function": "OVERVIEW", "symbol": base})
        return parse_overview(reply.payload)

    def search(self, keywords: str) -> list[dict[str, Any]]:
        """``SYMBOL_SEARCH``: candidate symbols for the catalog's symbol discovery."""
        reply = self.client.get_json("/query", {"function": "SYMBOL_SEARCH", "keywords": keywords})
        return parse_symbol_search(reply.payload)


def parse_overview(body: Any) -> dict[str, Any]:
    """``OVERVIEW`` → normalized metadata; ``{}`` (Alpha Vantage's answer for symbols it
    has no fundamentals for) → ``{}``."""
    if not isinstance(body, dict):
        raise SchemaMismatch(f"{NAME}: OVERVIEW answered with a {type(body).__name__}")
    return clean_metadata({
        "name": body.get("Name"),
        "sector": body.get("Sector"),
        "industry": body.get("Industry"),
        "exchange": body.get("Exchange"),
        "currency": body.get("Currency"),
        "market_cap": body.get("MarketCapitalization"),
        "description": body.get("Description"),
        "asset_type": body.get("AssetType"),
    })


def parse_symbol_search(body: Any) -> list[dict[str, Any]]:
    """``bestMatches[]`` with ``"1. symbol"``-style keys → plain keys (``symbol``, ``name``,
    ``type``, ``region``, ``marketOpen``, ``marketClose``, ``timezone``, ``currency``,
    ``matchScore`` as a float)."""
    matches = field(body, "bestMatches", provider=NAME)
    out = []
    for match in matches:
        row = {key.split(". ", 1)[-1]: value for key, value in match.items()}
        if "matchScore" in row:
            row["matchScore"] = float(row["matchScore"])
        out.append(row)
    return out
