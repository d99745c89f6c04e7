"""Fake Alpha Vantage ``/query``: stock, FX and crypto time series in exchange-local
time (``"1. open"`` keys, newest first, strings), ``OVERVIEW``, ``SYMBOL_SEARCH``; every
error and throttle as HTTP 200 with ``Error Message`` / ``Note``, like the real one."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from marketdata_assets.testkit.fakeproviders.common import (
    Answer,
    Call,
    Recorded,
    from_epoch,
    is_invalid,
    local_strings,
    now_utc,
)
from marketdata_assets.testkit.fakeproviders.generator import Profile, daily_bars, minute_bars, profile_for

KEYED = True
_KEY_MESSAGE = (
    "the parameter apikey is invalid or missing. Please claim your free API key on "
    "(https://www.alphavantage.co/support/#api-key). It should take less than 20 seconds."
)
_SERIES = {
    # function: (series key, time zone of the meta, meta time zone key, has volume)
    "TIME_SERIES_INTRADAY": ("Time Series (1min)", None, "6. Time Zone", True),
    "TIME_SERIES_DAILY": ("Time Series (Daily)", None, "5. Time Zone", True),
    "FX_INTRADAY": ("Time Series FX (1min)", "UTC", "7. Time Zone", False),
    "FX_DAILY": ("Time Series FX (Daily)", "UTC", "6. Time Zone", False),
    "CRYPTO_INTRADAY": ("Time Series Crypto (1min)", "UTC", "9. Time Zone", True),
    "DIGITAL_CURRENCY_DAILY": ("Time Series (Digital Currency Daily)", "UTC", "7. Time Zone", True),
}
_AV_ZONE = {"America/New_York": "US/Eastern"}


def has_key(call: Call) -> bool:
    return bool(call.query.get("apikey"))


def auth_error() -> Answer:
    return Answer(200, {"Error Message": _KEY_MESSAGE})


def rate_limited() -> Answer:
    return Answer(200, {"Note": (
        "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute "
        "and 500 calls per day. Please visit https://www.alphavantage.co/premium/ if you would like "
        "to target a higher API call frequency."
    )})


def _invalid(function: str) -> Answer:
    return Answer(200, {"Error Message": (
        "Invalid API call. Please retry or visit the documentation "
        f"(https://www.alphavantage.co/documentation/) for {function}."
    )})


def _symbol(function: str, q) -> str | None:
    if function.startswith("FX_"):
        return f"FX:{q.get('from_symbol')}/{q.get('to_symbol')}" if q.get("from_symbol") else None
    if function.startswith(("CRYPTO_", "DIGITAL_")):
        return f"CRYPTO:{q.get('symbol')}/{q.get('market')}" if q.get("symbol") and q.get("market") else None
    return q.get("symbol")


def _range(function: str, q, now: datetime) -> tuple[datetime, datetime]:
    full = q.get("outputsize") == "full"
    if function == "TIME_SERIES_INTRADAY" and q.get("month"):
        first = datetime.strptime(q["month"] + "-01", "%Y-%m-%d").replace(tzinfo=now.tzinfo)
        after = (first + timedelta(days=32)).replace(day=1)
        return first, min(after, now)
    if function.endswith("DAILY"):
        return (datetime(2000, 1, 1, tzinfo=now.tzinfo) if full else now - timedelta(days=140)), now
    return now - timedelta(days=3 if full else 1), now


def _series(profile: Profile, function: str, start: datetime, end: datetime, tz: str, volume: bool, compact: bool,
            call: Call):
    """Rows keyed by local time, newest first, every number a string."""
    keys = ["1. open", "2. high", "3. low", "4. close"] + (["5. volume"] if volume else [])
    if function.endswith("DAILY"):
        days = daily_bars(profile, start.date(), end.date())
        stamps = [d.isoformat() for d, _ in days]
        values = [list(b) for _, b in days]
    else:
        epochs, array = minute_bars(profile, start, end, call.now, call.corrections)
        if function == "TIME_SERIES_INTRADAY":  # stocks: extended hours 04:00-20:00 New York only
            hours = pd.to_datetime(epochs, unit="s", utc=True).tz_convert("America/New_York").hour
            keep = np.asarray((hours >= 4) & (hours < 20))
            epochs, array = epochs[keep], array[keep]
        stamps, values = local_strings(epochs, tz), array.tolist()
    if compact:
        stamps, values = stamps[-100:], values[-100:]
    fmt = f"{{:.{profile.decimals}f}}".format
    columns = [[fmt(row[i]) for row in values] for i in range(4)]
    if volume:
        columns.append([str(int(row[4])) for row in values])
    rows = {stamp: dict(zip(keys, cells, strict=True)) for stamp, *cells in zip(stamps, *columns, strict=True)}
    return dict(reversed(rows.items())), (stamps[-1] if stamps else None)


def respond(call: Call, recorded: Recorded) -> Answer:
    q = call.query
    if call.path != "/query":
        return Answer(404, {"Error Message": "Not found"})
    function = q.get("function", "")
    if function == "OVERVIEW":
        return _overview(q.get("symbol", ""), call.empty, recorded)
    if function == "SYMBOL_SEARCH":
        if q.get("keywords", "").upper() == "BA":
            return Answer(200, recorded.load("alphavantage/symbol_search.json"))
        return Answer(200, {"bestMatches": []})
    if function not in _SERIES:
        return Answer(200, {"Error Message": f"This API function ({function}) does not exist."})
    symbol = _symbol(function, q)
    if not symbol or is_invalid(symbol.split(":")[-1]) or ("INTRADAY" in function and q.get("interval") != "1min"):
        return _invalid(function)
    if function == "TIME_SERIES_INTRADAY" and symbol == "MSFT" and q.get("month") in (None, "2017-12"):
        return Answer(200, recorded.load("alphavantage/time_series_intraday_1min_MSFT.json"))
    series_key, zone, zone_key, volume = _SERIES[function]
    profile = profile_for("alphavantage", symbol)
    tz = zone or _AV_ZONE.get(profile.tz, profile.tz)
    start, end = _range(function, q, from_epoch(call.now) if call.now is not None else now_utc())
    compact = q.get("outputsize", "compact") != "full" and not q.get("month")
    rows, last = ({}, None) if call.empty else _series(profile, function, start, end, tz, volume, compact, call)
    meta = {
        "1. Information": f"{function} (fake)", "2. Symbol": symbol,
        "3. Last Refreshed": last or date.today().isoformat(),
        "4. Output Size": "Compact" if compact else "Full size", zone_key: tz,
    }
    return Answer(200, {"Meta Data": meta, series_key: rows})


def _overview(symbol: str, empty: bool, recorded: Recorded) -> Answer:
    if symbol == "IBM" and not empty:
        return Answer(200, recorded.load("alphavantage/overview_IBM.json"))
    if empty or not symbol or is_invalid(symbol):
        return Answer(200, {})
    profile = profile_for("alphavantage", symbol)
    return Answer(200, {
        "Symbol": symbol, "AssetType": "Common Stock", "Name": f"{profile.generic} (fake)",
        "Description": f"Synthetic company data for {symbol}.", "Exchange": "FAKE", "Currency": "USD",
        "Country": "USA", "Sector": "TECHNOLOGY", "Industry": "SOFTWARE",
        "MarketCapitalization": str(int(profile.base_price * 1e9)),
    })
