"""The read API: bars, ticks and indicators of instruments over a time range, hot and cold.

    from marketdata_assets.storage.query import read_bars, read_ticks, read_indicators, to_arrow
    with open_warehouse(url) as wh:
        bars = read_bars(wh, ["ESH24", "NQH24"], "2024-03-04", "2024-03-09", timeframe="5m")

Rules: ``start`` is inclusive and ``end`` exclusive, both instants (ISO text, ``datetime`` or
``pd.Timestamp``; naive means UTC); rows come sorted by ``ts`` then instrument, with the
columns and dtypes of ``Warehouse.read`` (``ts`` ``datetime64[us, UTC]``); ticks also carry
``side``, the text of their ``aggressor`` code (``buy`` / ``sell`` / None), as the live read API
(``live_reader``) returns it. Bars of the stored
timeframes (``1m 5m 15m 1h 4h 1d``; ``1d`` = session bars) are read as stored; any other
``<n>m`` / ``<n>h`` (up to a day) is built from the 1m bars, anchored at each session open
(``transforms/resample.py``). ``origin`` narrows bars and indicators to ``sierra`` /
``provider`` / ``projectx``. Every read spans hot tables and the
cold archive (``Warehouse.read``). Pass a :class:`~marketdata_assets.storage.query_cache.QueryCache`
to serve repeated historical queries from Redis.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
import pyarrow as pa

from marketdata_assets.errors import MarketDataError
from marketdata_assets.model import aggressor
from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.storage.warehouse import Warehouse
from marketdata_assets.transforms.resample import resample_bars, step_us

TABLE_OF = {"bars": "ohlc_bars", "ticks": "ticks", "indicators": "indicators"}
TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")
ORIGINS = ("sierra", "provider", "projectx")


class BadQuery(MarketDataError):
    """A query parameter is invalid (names the parameter)."""


def _instant(value, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise BadQuery(f"{name}: not a date or time: {str(value)[:40]!r}") from exc
    if ts is pd.NaT:
        raise BadQuery(f"{name}: missing")
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).as_unit("us")


@dataclass(frozen=True)
class Query:
    kind: str                       # bars | ticks | indicators
    instruments: tuple[str, ...]    # sorted, unique, validated
    start: pd.Timestamp             # UTC, inclusive
    end: pd.Timestamp               # UTC, exclusive
    timeframe: str | None = None    # bars / indicators
    origin: str | None = None

    @classmethod
    def make(cls, kind: str, instruments, start, end, timeframe: str | None = None,
             origin: str | None = None) -> Query:
        if kind not in TABLE_OF:
            raise BadQuery(f"kind: {kind!r} is not one of {sorted(TABLE_OF)}")
        names = [instruments] if isinstance(instruments, str) else list(instruments)
        if not names:
            raise BadQuery("instrument: at least one is required")
        try:
            names = sorted({validate_instrument(n) for n in names})
        except MarketDataError as exc:
            raise BadQuery(f"instrument: {exc}") from exc
        lo, hi = _instant(start, "start"), _instant(end, "end")
        if hi <= lo:
            raise BadQuery("end: must be after start")
        if kind == "ticks":
            timeframe = origin = None
        else:
            timeframe = timeframe or "1m"
            if timeframe not in TIMEFRAMES and (kind != "bars" or step_us(timeframe) is None):
                allowed = ", ".join(TIMEFRAMES) + (" or <n>m / <n>h up to a day" if kind == "bars" else "")
                raise BadQuery(f"timeframe: {timeframe!r} is not one of {allowed}")
            if origin is not None and origin not in ORIGINS:
                raise BadQuery(f"origin: {origin!r} is not one of {', '.join(ORIGINS)}")
        return cls(kind, tuple(names), lo, hi, timeframe, origin)

    def normalized(self) -> str:
        """The canonical text of the query (the cache key is its hash)."""
        return json.dumps({"kind": self.kind, "instruments": list(self.instruments), "start": self.start.value // 1000,
                           "end": self.end.value // 1000, "timeframe": self.timeframe, "origin": self.origin},
                          sort_keys=True, separators=(",", ":"))

    def digest(self) -> str:
        return hashlib.sha256(self.normalized().encode()).hexdigest()[:32]

    def dates(self) -> tuple[str, str]:
        """Trading dates [from, to) whose rows can fall in [start, end): a trading date starts at
        most a day before and ends at most a day after its UTC calendar day."""
        return ((self.start - timedelta(days=1)).date().isoformat(),
                (self.end + timedelta(days=2)).date().isoformat())

    @property
    def days(self) -> float:
        return (self.end - self.start) / timedelta(days=1)


def scope_of(q: Query, instrument: str) -> dict:
    scope = {"instrument": instrument}
    if q.timeframe:
        scope["timeframe"] = q.timeframe
    if q.origin:
        scope["origin"] = q.origin
    return scope


def _resampled(wh: Warehouse, q: Query, instrument: str) -> pd.DataFrame:
    from marketdata_assets.model.sessions import market_for_instrument

    rows = wh.read("ohlc_bars", {**scope_of(q, instrument), "timeframe": "1m"}, order_by=("ts",), dates=q.dates())
    market = market_for_instrument(instrument)
    opens = {(instrument, d): market.session_open_us(date.fromisoformat(d)) for d in rows["trading_date"].unique()}
    return resample_bars(rows, q.timeframe, opens)


def run(wh: Warehouse, q: Query) -> pd.DataFrame:
    """The rows of ``q`` (see the module docstring), uncached. A resampled bar is returned
    when its start lies in [start, end)."""
    frames = []
    for instrument in q.instruments:
        if q.kind == "bars" and q.timeframe not in TIMEFRAMES:
            rows = _resampled(wh, q, instrument)
        else:
            rows = wh.read(TABLE_OF[q.kind], scope_of(q, instrument), order_by=("ts",), dates=q.dates())
        frames.append(rows[(rows["ts"] >= q.start) & (rows["ts"] < q.end)])
    present = [f for f in frames if len(f)]
    if not present:
        return _with_side(q, frames[0].iloc[0:0].reset_index(drop=True))
    out = pd.concat(present, ignore_index=True) if len(present) > 1 else present[0]
    return _with_side(q, out.sort_values(["ts", "instrument"], kind="stable", ignore_index=True))


def _with_side(q: Query, rows: pd.DataFrame) -> pd.DataFrame:
    """Ticks with ``side``: the text of the stored ``aggressor`` code."""
    if q.kind != "ticks":
        return rows
    return rows.assign(side=aggressor.names(rows["aggressor"].to_numpy(dtype="int64", na_value=0)))


def read(wh: Warehouse, q: Query, cache=None) -> pd.DataFrame:
    return cache.read(wh, q) if cache is not None else run(wh, q)


def read_bars(wh: Warehouse, instruments, start, end, timeframe: str = "1m", origin: str | None = None,
              cache=None) -> pd.DataFrame:
    """OHLC bars (``ohlc_bars`` columns) of ``instruments`` with ``start <= ts < end``."""
    return read(wh, Query.make("bars", instruments, start, end, timeframe, origin), cache)


def read_ticks(wh: Warehouse, instruments, start, end, cache=None) -> pd.DataFrame:
    """Validated ticks (``ticks`` columns) of ``instruments`` with ``start <= ts < end``."""
    return read(wh, Query.make("ticks", instruments, start, end), cache)


def read_indicators(wh: Warehouse, instruments, start, end, timeframe: str = "1m", origin: str | None = None,
                    cache=None) -> pd.DataFrame:
    """Indicator rows (``indicators`` columns) of ``instruments`` with ``start <= ts < end``."""
    return read(wh, Query.make("indicators", instruments, start, end, timeframe, origin), cache)


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A read result as an Arrow table (``ts`` stays ``timestamp[us, tz=UTC]``)."""
    return pa.Table.from_pandas(frame, preserve_index=False)
