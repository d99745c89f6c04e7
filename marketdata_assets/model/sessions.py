"""Markets, sessions and trading dates (vectorized).

A market's trading date ``D`` starts at ``day_start`` local time (on ``D-1`` when
``day_start`` is after midnight, as on CME Globex at 17:00 America/Chicago) and lasts until
the next one. Every timestamp therefore has exactly one trading date; whether the market is
*open* at that instant is a separate question answered by the session windows, the
trading weekdays and the holidays. Timestamps are int64 microseconds since the Unix epoch
(UTC) throughout; local wall-clock time is used only to place them, so a DST change
neither shifts nor duplicates anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from marketdata_assets.errors import ConfigError

DAY_US = 86_400_000_000
MIN_US = 60_000_000


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


@dataclass(frozen=True)
class Session:
    name: str
    start: int   # minutes after day_start (0..1439)
    end: int     # minutes after day_start (1..1440)
    kind: str    # regular | extended


@dataclass(frozen=True)
class Market:
    code: str
    name: str
    asset_class: str
    timezone: str
    day_start: int              # local minutes after midnight
    sessions: tuple[Session, ...]
    weekdays: frozenset[int]    # trading-date weekdays, Monday = 0
    holidays: frozenset[date]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    # -- per-date helpers -------------------------------------------------------------
    def is_trading_day(self, d: date) -> bool:
        return d.weekday() in self.weekdays and d not in self.holidays

    def _wall_to_us(self, wall: datetime) -> int:
        return int(wall.replace(tzinfo=self.tz).timestamp() * 1_000_000)

    def _day_start_wall(self, d: date) -> datetime:
        first = d - timedelta(days=1) if self.day_start > 0 else d
        return datetime.combine(first, time()) + timedelta(minutes=self.day_start)

    def window_us(self, d: date) -> tuple[int, int]:
        """UTC [start, end) of every instant whose trading date is ``d``."""
        return (self._wall_to_us(self._day_start_wall(d)),
                self._wall_to_us(self._day_start_wall(d + timedelta(days=1))))

    def session_bounds_us(self, d: date, extended: bool = True) -> list[tuple[int, int]]:
        """UTC [open, close) of each session of trading date ``d`` (empty when closed)."""
        if not self.is_trading_day(d):
            return []
        base = self._day_start_wall(d)
        return [(self._wall_to_us(base + timedelta(minutes=s.start)),
                 self._wall_to_us(base + timedelta(minutes=s.end)))
                for s in self.sessions if extended or s.kind == "regular"]

    def session_open_us(self, d: date) -> int:
        """UTC start of the first session of ``d`` (the anchor of intraday bars);
        the trading day's start when ``d`` is not a trading day."""
        bounds = self.session_bounds_us(d)
        return bounds[0][0] if bounds else self.window_us(d)[0]

    def open_minutes_us(self, d: date, extended: bool = True) -> np.ndarray:
        """Start (UTC µs) of every minute during which the market is open on ``d``."""
        parts = [np.arange(lo, hi, MIN_US, dtype=np.int64) for lo, hi in self.session_bounds_us(d, extended)]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    # -- vectorized -----------------------------------------------------------------
    def _wall_us(self, ts_us: np.ndarray) -> np.ndarray:
        idx = pd.DatetimeIndex(np.asarray(ts_us, dtype="datetime64[us]")).tz_localize("UTC")
        wall = idx.tz_convert(self.timezone).tz_localize(None)
        return wall.as_unit("us").asi8

    def trading_dates(self, ts_us: np.ndarray) -> np.ndarray:
        """Trading date of each timestamp, as ``datetime64[D]``."""
        shifted = self._wall_us(ts_us) - self.day_start * MIN_US
        days = np.floor_divide(shifted, DAY_US) + (1 if self.day_start > 0 else 0)
        return days.astype("datetime64[D]")

    def in_session(self, ts_us: np.ndarray, extended: bool = True) -> np.ndarray:
        """True where the market is open at that instant."""
        shifted = self._wall_us(ts_us) - self.day_start * MIN_US
        minute = np.floor_divide(np.mod(shifted, DAY_US), MIN_US)
        days = (np.floor_divide(shifted, DAY_US) + (1 if self.day_start > 0 else 0)).astype("datetime64[D]")
        inside = np.zeros(len(minute), dtype=bool)
        for s in self.sessions:
            if extended or s.kind == "regular":
                inside |= (minute >= s.start) & (minute < s.end)
        weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (3)
        inside &= np.isin(weekday, list(self.weekdays))
        if self.holidays:
            inside &= ~np.isin(days, np.array(sorted(self.holidays), dtype="datetime64[D]"))
        return inside


def _market_from(doc: dict) -> Market:
    day_start = _minutes(doc["day_start"])
    sessions = []
    for s in doc["sessions"]:
        start = (_minutes(s["start"]) - day_start) % 1440
        end = (_minutes(s["end"]) - day_start) % 1440 or 1440
        if end <= start:
            raise ConfigError(f"market {doc['code']}: session {s['name']} ends before it starts")
        sessions.append(Session(s["name"], start, end, s.get("kind", "regular")))
    ZoneInfo(doc["timezone"])  # fails loudly on an unknown zone
    return Market(
        code=doc["code"], name=doc["name"], asset_class=doc["asset_class"], timezone=doc["timezone"],
        day_start=day_start, sessions=tuple(sessions), weekdays=frozenset(doc["weekdays"]),
        holidays=frozenset(date.fromisoformat(h) for h in doc["holidays"]),
    )


@lru_cache(maxsize=1)
def reference_document() -> dict:
    """The versioned reference file shipped in the package (markets, asset classes, overrides)."""
    text = resources.files("marketdata_assets.reference").joinpath("markets.json").read_text()
    return json.loads(text)


@lru_cache(maxsize=1)
def markets() -> dict[str, Market]:
    return {m["code"]: _market_from(m) for m in reference_document()["markets"]}


def get_market(code: str) -> Market:
    try:
        return markets()[code]
    except KeyError as exc:
        raise ConfigError(f"unknown market {code!r}; known: {sorted(markets())}") from exc


def market_for_instrument(instrument: str, overrides: dict[str, str] | None = None) -> Market:
    """The market whose sessions apply to ``instrument`` (package overrides, then settings')."""
    from marketdata_assets.model.instruments import parse_instrument

    merged = {**reference_document().get("instrument_overrides", {}), **(overrides or {})}
    return get_market(parse_instrument(instrument, merged).market)
