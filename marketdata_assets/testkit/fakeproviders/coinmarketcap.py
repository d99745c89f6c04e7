"""Fake CoinMarketCap ``/v1/cryptocurrency/info`` (metadata only), key in the
``X-CMC_PRO_API_KEY`` header, errors in ``status.error_code``."""

from __future__ import annotations

from marketdata_assets.testkit.fakeproviders.common import Answer, Call, Recorded, is_invalid

KEYED = True
_NAMES = {"BTC": ("Bitcoin", "bitcoin"), "ETH": ("Ethereum", "ethereum")}


def _status(code: int, message: str | None) -> dict:
    return {"timestamp": "2025-01-01T00:00:00.000Z", "error_code": code, "error_message": message,
            "elapsed": 1, "credit_count": 0 if code else 1}


def has_key(call: Call) -> bool:
    return bool(call.headers.get("X-CMC_PRO_API_KEY") or call.query.get("CMC_PRO_API_KEY"))


def auth_error() -> Answer:
    return Answer(401, {"status": _status(1002, "API key missing.")})


def rate_limited() -> Answer:
    return Answer(429, {"status": _status(
        1008, "You've exceeded your API Key's HTTP request rate limit. Rate limits reset every minute.")})


def respond(call: Call, recorded: Recorded) -> Answer:
    if call.path != "/v1/cryptocurrency/info":
        return Answer(404, {"status": _status(404, "Not found")})
    symbols = [s for s in call.query.get("symbol", "").split(",") if s]
    bad = [s for s in symbols if is_invalid(s)]
    if not symbols or bad:
        return Answer(400, {"status": _status(400, f'Invalid value for "symbol": "{",".join(bad)}"')})
    data = {}
    for i, symbol in enumerate(symbols):
        name, slug = _NAMES.get(symbol.upper(), (f"{symbol} (fake)", symbol.lower()))
        data[symbol] = {
            "id": i + 1, "name": name, "symbol": symbol, "slug": slug, "category": "coin",
            "description": f"{name} ({symbol}) is a cryptocurrency. Synthetic description.",
            "logo": "", "urls": {"website": []}, "tags": [],
        }
    if call.empty:
        data = {}
    return Answer(200, {"status": _status(0, None), "data": data})
