"""Deterministic synthetic bars for the fake providers.

Every (instrument, UTC date) has its own seeded random walk of 1440 one-minute bars, so
any request for any range gives the same numbers every time, on every provider: the
provider symbol is mapped back to the generic instrument through the symbol map first
(``NQ=F``, ``NDX`` and ``I:NDX`` are one walk). Non-crypto instruments do not trade on
Saturdays and Sundays (UTC), which gives the empty days real providers have, and minute
bars exist only while the instrument's market is open (its sessions in the reference data).

Live mode: with a clock (``FakeState(clock=...)``, epoch seconds), no minute after ``now``
is served and the minute containing ``now`` is *forming*: its close, high, low and volume
are those of the elapsed fraction of the minute, so successive polls see it change and a
poll after the minute's end sees the final bar. Corrections (``FakeState.correct``)
replace fields of a minute bar on every provider, as a late revision would.

Daily bars come first (one cheap vectorized draw per instrument and year, so decades of
history cost nothing); a day's minute bars are then drawn to aggregate exactly to its
daily bar. A daily bar of date D covers the UTC day D and is labelled D in the exchange
zone.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np

from marketdata_assets.model.symbol_map import SymbolMap, load_symbol_map

MAX_BARS = 400_000  # refuse absurd ranges instead of building gigabytes of JSON
_BASE_PRICES = {
    "NAS100": 18000.0, "SPX500": 5000.0, "XAUUSD": 2000.0, "EURUSD": 1.08,
    "BTCUSD": 40000.0, "AAPL": 190.0, "MSFT": 400.0, "IBM": 150.0,
}
_VOLATILITY = {"fx": 0.00008, "crypto": 0.0012, "commodity": 0.0003, "index": 0.0003, "equity": 0.0006}
_VOLUME = {"fx": 0.0, "crypto": 25.0, "commodity": 300.0, "index": 2000.0, "equity": 20000.0}


@dataclass(frozen=True)
class Profile:
    generic: str
    asset_class: str
    base_price: float
    tz: str  # the zone a provider would report for this instrument

    @property
    def decimals(self) -> int:
        return 5 if self.base_price < 10 else 2

    @property
    def trades_weekends(self) -> bool:
        return self.asset_class == "crypto"


@lru_cache(maxsize=1)
def symbol_map() -> SymbolMap:
    return load_symbol_map()


def _seed(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:8], "little")


def profile_for(provider: str, symbol: str) -> Profile:
    smap = symbol_map()
    generic = smap.from_provider(provider, symbol) or symbol
    asset_class = smap.instrument(generic).asset_class if generic in smap else "equity"
    base = _BASE_PRICES.get(generic) or 20.0 + _seed(generic) % 480
    tz = "UTC" if asset_class in ("fx", "crypto") else "America/New_York"
    return Profile(generic, asset_class, float(base), tz)


@lru_cache(maxsize=512)
def _year(profile: Profile, year: int) -> np.ndarray:
    """(days in year, 5) daily open, high, low, close, volume of every calendar day."""
    rng = np.random.default_rng(_seed(profile.generic, "year", str(year)))
    days = (date(year + 1, 1, 1) - date(year, 1, 1)).days
    vol = _VOLATILITY.get(profile.asset_class, 0.0005) * math.sqrt(1440)
    z = rng.standard_normal((days, 4))
    level = profile.base_price * math.exp(0.05 * rng.standard_normal())
    close = level * np.exp(np.cumsum(vol * z[:, 0]))
    open_ = np.concatenate(([level], close[:-1])) * np.exp(0.1 * vol * z[:, 1])
    high = np.maximum(open_, close) * (1 + np.abs(z[:, 2]) * vol * 0.5)
    low = np.minimum(open_, close) * (1 - np.abs(z[:, 3]) * vol * 0.5)
    mean_volume = _VOLUME.get(profile.asset_class, 1000.0) * 1440
    volume = np.round(rng.lognormal(math.log(mean_volume), 0.3, days)) if mean_volume else np.zeros(days)
    out = np.column_stack([np.round(np.column_stack([open_, high, low, close]), profile.decimals), volume])
    out.setflags(write=False)
    return out


def _daily(profile: Profile, day: date) -> np.ndarray | None:
    if day.weekday() >= 5 and not profile.trades_weekends:
        return None
    return _year(profile, day.year)[day.timetuple().tm_yday - 1]


@lru_cache(maxsize=256)
def _day(profile: Profile, day: date) -> np.ndarray | None:
    """(1440, 5) minute bars of the UTC day, drawn as a bridge between the day's open and
    close that touches exactly its high and low, with volumes summing to its volume, so
    minute bars aggregate to the daily bar whichever the provider."""
    daily = _daily(profile, day)
    if daily is None:
        return None
    o, h, low, c, v = daily
    rng = np.random.default_rng(_seed(profile.generic, day.isoformat()))
    vol = _VOLATILITY.get(profile.asset_class, 0.0005)
    t = np.arange(1, 1441) / 1440
    walk = np.cumsum(rng.standard_normal(1440) * vol * o)
    close = np.round(np.clip(o + (c - o) * t + walk - t * walk[-1], low, h), profile.decimals)
    close[-1] = c
    open_ = np.concatenate(([o], close[:-1]))
    wicks = np.abs(rng.standard_normal((1440, 2))) * vol * 0.6
    high = np.clip(np.round(np.maximum(open_, close) * (1 + wicks[:, 0]), profile.decimals), None, h)
    lows = np.clip(np.round(np.minimum(open_, close) * (1 - wicks[:, 1]), profile.decimals), low, None)
    high[int(np.argmax(close))] = h
    lows[int(np.argmin(close))] = low
    weights = rng.lognormal(0.0, 0.6, 1440)
    volume = rng.multinomial(int(v), weights / weights.sum()).astype(float) if v else np.zeros(1440)
    out = np.column_stack([open_, high, lows, close, volume])
    out.setflags(write=False)
    return out


def minute_bars(profile: Profile, start: datetime, end: datetime, now: float | None = None,
                corrections: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(epoch seconds, (n, 5) values) of the 1m bars starting in ``[start, end)`` (see the
    module doc for ``now`` and ``corrections``)."""
    stamps, values = _minute_bars(profile, start, end)
    if corrections:
        values = values.copy()
        for j, t in enumerate(stamps.tolist()):
            fix = corrections.get((profile.generic, int(t)))
            if fix:
                for i, name in enumerate(("open", "high", "low", "close", "volume")):
                    if name in fix:
                        values[j, i] = fix[name]
    if now is None:
        return stamps, values
    keep = stamps <= now
    stamps, values = stamps[keep], values[keep]
    if len(stamps) and now < stamps[-1] + 60:
        values = values.copy()
        frac = max(0.0, (now - stamps[-1]) / 60.0)
        o, h, low, c, v = values[-1]
        close = round(o + (c - o) * frac, profile.decimals)
        values[-1] = (o, max(o, close, round(o + (h - o) * frac, profile.decimals)),
                      min(o, close, round(o + (low - o) * frac, profile.decimals)), close, float(int(v * frac)))
    return stamps, values


def _minute_bars(profile: Profile, start: datetime, end: datetime) -> tuple[np.ndarray, np.ndarray]:
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if (end - start).total_seconds() / 60 > MAX_BARS:
        raise ValueError(f"range too long for the fake server: {start} .. {end}")
    stamps, values = [], []
    day = start.date()
    while day <= end.date():
        bars = _day(profile, day)
        if bars is not None:
            midnight = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
            day_ts = midnight + 60 * np.arange(1440)
            keep = (day_ts >= start.timestamp()) & (day_ts < end.timestamp())
            stamps.append(day_ts[keep])
            values.append(bars[keep])
        day += timedelta(days=1)
    if not stamps:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 5))
    stamps, values = np.concatenate(stamps), np.concatenate(values)
    open_ = _market(profile.generic).in_session(stamps * 1_000_000)  # no bars while the market is closed
    return stamps[open_], values[open_]


@lru_cache(maxsize=64)
def _market(generic: str):
    from marketdata_assets.errors import MarketDataError
    from marketdata_assets.model.sessions import get_market, market_for_instrument

    try:
        return market_for_instrument(generic)
    except MarketDataError:  # a symbol that is no valid instrument name: trade like crypto, always
        return get_market("BINANCE")


def daily_bars(profile: Profile, first: date, last: date) -> list[tuple[date, tuple[float, ...]]]:
    """(day, (open, high, low, close, volume)) for each trading day in ``[first, last]``."""
    if (last - first).days > 60 * 366:
        raise ValueError(f"range too long for the fake server: {first} .. {last}")
    out = []
    day = first
    while day <= last:
        bar = _daily(profile, day)
        if bar is not None:
            out.append((day, tuple(float(x) for x in bar)))
        day += timedelta(days=1)
    return out
