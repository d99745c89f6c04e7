"""CoinMarketCap: metadata of crypto assets only (name, category, description), for
the catalog's enrichment; it serves no bars in this platform.

``GET /v1/cryptocurrency/info?symbol=BTC`` with the key in the ``X-CMC_PRO_API_KEY``
header. Shape: ``{"status": {"error_code": 0, ...}, "data": {"BTC": {...}}}`` (newer
API versions put a list under the symbol; both are read). Errors: ``status.error_code``
≠ 0 with HTTP 400/401/403/429 (1001/1002 key missing or invalid, 1005-1007 plan,
1008-1011 rate limits).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from marketdata_assets.errors import RateLimited
from marketdata_assets.sources.http.base import HttpProvider, Timeframe, clean_metadata, field
from marketdata_assets.sources.http.client import AuthenticationFailed, NotSupported, ProviderError

NAME = "coinmarketcap"
_AUTH_CODES = {1001, 1002, 1005, 1006, 1007}
_RATE_CODES = {1008, 1009, 1010, 1011}


def _status(payload: Any) -> dict | None:
    if isinstance(payload, dict) and isinstance(payload.get("status"), dict):
        return payload["status"]
    return None


def describe(payload: Any) -> str | None:
    status = _status(payload)
    if status is None or not status.get("error_code"):
        return None
    return f"{status.get('error_code')}: {status.get('error_message')}"


def inspect(status: int, payload: Any, request: str) -> None:
    state = _status(payload)
    if state is None or not state.get("error_code") or status >= 500:
        return
    try:
        code = int(state["error_code"])
    except (TypeError, ValueError):
        code = 0
    message = f"{describe(payload)} ({request})"
    if code in _RATE_CODES or status == 429:
        raise RateLimited(NAME, message)
    if code in _AUTH_CODES or status in (401, 403):
        raise AuthenticationFailed(NAME, message)
    raise ProviderError(NAME, message)


def parse_info(body: Any, symbol: str) -> dict[str, Any]:
    data = field(body, "data", provider=NAME)
    entry = (data.get(symbol) or data.get(symbol.upper())) if isinstance(data, dict) else None
    if isinstance(entry, list):
        entry = entry[0] if entry else None
    if not entry:
        return {}
    return clean_metadata({
        "name": entry.get("name"),
        "description": entry.get("description"),
        "asset_type": entry.get("category"),
    })


class CoinMarketCapProvider(HttpProvider):
    name = NAME
    key_header = "X-CMC_PRO_API_KEY"
    headers = {"Accept": "application/json"}
    inspect = staticmethod(inspect)
    describe = staticmethod(describe)

    def fetch_bars(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime) -> pd.DataFrame:
        raise NotSupported(NAME, "serves metadata only, no bars")

    def fetch_metadata(self, symbol: str) -> dict[str, Any]:
        symbol = self.check_symbol(symbol)
        reply = self.client.get_json("/v1/cryptocurrency/info", {"symbol": symbol})
        return parse_info(reply.payload, symbol)
