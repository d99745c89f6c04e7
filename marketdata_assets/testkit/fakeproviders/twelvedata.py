"""Fake Twelve Data ``/time_series`` and ``/profile``: values newest first, numbers as
strings, ``datetime`` in the exchange's zone, ``start_date``/``end_date`` read in that
zone, ``outputsize`` honoured (newest values kept), errors as ``status: error``."""

from __future__ import annotations

from datetime import datetime, timedelta

from marketdata_assets.testkit.fakeproviders.common import (
    Answer,
    Call,
    Recorded,
    is_invalid,
    local_midnight,
    local_strings,
    now_utc,
    num,
    parse_local,
)
from marketdata_assets.testkit.fakeproviders.generator import daily_bars, minute_bars, profile_for

KEYED = True
_TYPES = {"equity": "Common Stock", "index": "Index", "commodity": "Physical Currency",
          "fx": "Physical Currency", "crypto": "Digital Currency"}
# The recorded bodies answer AAPL requests whose dates fall around 2024-11-22.
_RECORDED = {("AAPL", "1day"): ("twelvedata/batch_time_series.json", "AAPL"),
             ("AAPL", "1min"): ("twelvedata/batch_multi.json", "ts_aapl")}
_RECORDED_DAYS = ("2024-11-20", "2024-11-26")


def has_key(call: Call) -> bool:
    return bool(call.query.get("apikey")) or call.headers.get("Authorization", "").startswith("apikey ")


def _error(code: int, message: str, status: int = 200) -> Answer:
    return Answer(status, {"code": code, "message": message, "status": "error"})


def auth_error() -> Answer:
    return _error(401, "**apikey** parameter is incorrect or not specified. You can get your free API key "
                       "instantly following this link: https://twelvedata.com/pricing.", status=401)


def rate_limited() -> Answer:
    return _error(429, "You have run out of API credits for the current minute. 9 API credits were used, "
                       "with the current limit being 8. Wait for the next minute or consider switching to a "
                       "higher tier plan at https://twelvedata.com/pricing", status=429)


def _no_data() -> Answer:
    return _error(400, "No data is available on the specified dates. Try setting different start/end dates.")


def respond(call: Call, recorded: Recorded) -> Answer:
    if call.path == "/profile":
        return _profile(call, recorded)
    if call.path != "/time_series":
        return _error(404, f"Endpoint {call.path} not found in this fake", status=404)
    q = call.query
    symbol, interval = q.get("symbol", ""), q.get("interval", "")
    if interval not in ("1min", "1day"):
        return _error(400, "**interval** is not supported by this fake; use 1min or 1day")
    if not symbol or is_invalid(symbol):
        return _error(400, f"**symbol** not found: {symbol}. Please specify it correctly according to API Documentation.")
    outputsize = max(1, min(int(q.get("outputsize", 30)), 5000))
    lo, hi = q.get("start_date", ""), q.get("end_date", "")
    key = _RECORDED.get((symbol, interval))
    if key and lo[:10] >= _RECORDED_DAYS[0] and hi[:10] <= _RECORDED_DAYS[1] and lo and hi:
        return Answer(200, recorded.load(key[0])[key[1]])
    profile = profile_for("twelvedata", symbol)
    tz = profile.tz if q.get("timezone", "Exchange") == "Exchange" else q["timezone"]
    end = parse_local(hi, tz) if hi else now_utc()
    start = parse_local(lo, tz) if lo else end - timedelta(days=7 if interval == "1min" else 3650)
    values = [] if call.empty else _values(profile, interval, start, end, tz, call)
    values = values[:outputsize]
    if not values:
        return _no_data()
    if profile.asset_class in ("fx", "crypto"):  # like the real API: pairs carry no exchange zone (UTC)
        base, _, quote = symbol.partition("/")
        meta = {"symbol": symbol, "interval": interval, "currency_base": base, "currency_quote": quote,
                "type": _TYPES.get(profile.asset_class)}
    else:
        meta = {"symbol": symbol, "interval": interval, "currency": "USD", "exchange_timezone": tz,
                "exchange": "FAKE", "mic_code": "XFAK", "type": _TYPES.get(profile.asset_class, "Common Stock")}
    return Answer(200, {"meta": meta, "values": values, "status": "ok"})


def _values(profile, interval: str, start: datetime, end: datetime, tz: str, call: Call) -> list[dict[str, str]]:
    """Newest first, ``[start, end)``."""
    if interval == "1day":
        days = daily_bars(profile, start.date() - timedelta(days=1), end.date())
        bars = [(d.isoformat(), b) for d, b in days if start <= local_midnight(d, tz) < end]
    else:
        epochs, values = minute_bars(profile, start, end, call.now, call.corrections)
        bars = list(zip(local_strings(epochs, tz), values.tolist(), strict=True))
    out = []
    for stamp, (o, h, low, c, v) in reversed(bars):
        row = {"datetime": stamp, "open": num(o, 5), "high": num(h, 5), "low": num(low, 5), "close": num(c, 5)}
        if profile.asset_class != "fx":
            row["volume"] = str(int(v))
        out.append(row)
    return out


def _profile(call: Call, recorded: Recorded) -> Answer:
    symbol = call.query.get("symbol", "")
    if symbol == "AAPL" and not call.empty:
        return Answer(200, recorded.load("twelvedata/profile.json"))
    if not symbol or is_invalid(symbol) or call.empty:
        return _error(404, f"**symbol** {symbol} not found", status=404)
    profile = profile_for("twelvedata", symbol)
    return Answer(200, {
        "symbol": symbol, "name": f"{profile.generic} (fake)", "exchange": "FAKE", "mic_code": "XFAK",
        "sector": "Technology", "industry": "Software", "type": _TYPES.get(profile.asset_class),
        "description": f"Synthetic profile of {symbol}.",
    })
