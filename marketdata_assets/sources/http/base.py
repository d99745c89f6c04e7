"""What every provider module shares: the ``Provider`` protocol, the bar frame they
all return, and the time handling that makes five APIs agree.

Bar frame: ``ts`` (datetime64[us, UTC], bar start), ``open high low close volume``
(float64; ``volume`` is NaN where the provider has none, e.g. FX on Alpha Vantage),
``provider`` (str) and ``request`` (the provenance of the HTTP request that produced the
row, without any key). Rows are sorted ascending, unique by ``ts`` and inside the
requested ``[start, end)``; rows with a null price are dropped (Yahoo pads its arrays
with nulls for minutes without trades).

Daily bars are labelled with the *exchange-local* trading date at local midnight,
expressed in UTC (2024-11-22 in New York → 2024-11-22 05:00Z), whatever instant of the
day the provider stamps: Yahoo stamps the session open (14:30Z), Polygon local midnight
for stocks but 01:00 New York for indices (``I:NDX``), Alpha Vantage / Twelve Data send a
date. ``bars_frame`` applies the rule to every daily frame (``day_tz`` = the zone of the
provider's day), so a fallback from one provider to another never shifts a daily bar.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import httpx
import numpy as np
import pandas as pd

from marketdata_assets.errors import ConfigError, SchemaMismatch
from marketdata_assets.model.symbol_map import validate_provider_symbol
from marketdata_assets.settings import Secret
from marketdata_assets.sources.http.circuit import CircuitBreaker
from marketdata_assets.sources.http.client import Describe, HttpClient, Inspect
from marketdata_assets.sources.http.ratelimit import RateLimiter
from marketdata_assets.sources.http.retry import RetryPolicy

Timeframe = Literal["1m", "1d"]
TIMEFRAMES: tuple[str, ...] = ("1m", "1d")
PRICE_COLUMNS = ("open", "high", "low", "close")
BAR_COLUMNS = ("ts", *PRICE_COLUMNS, "volume")
FRAME_COLUMNS = (*BAR_COLUMNS, "provider", "request")
METADATA_KEYS = (
    "name", "sector", "industry", "exchange", "currency", "market_cap", "description", "asset_type",
)
TS_DTYPE = "datetime64[us, UTC]"


@runtime_checkable
class Provider(Protocol):
    name: str

    def fetch_bars(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime) -> pd.DataFrame:
        ...

    def fetch_metadata(self, symbol: str) -> dict[str, Any]:
        ...


class HttpProvider:
    """Base of the provider clients: owns one ``HttpClient`` (and through it the
    provider's rate limiter and circuit breaker)."""

    name: ClassVar[str]
    key_param: ClassVar[str | None] = None   # query parameter carrying the API key
    key_header: ClassVar[str | None] = None  # or header carrying it
    headers: ClassVar[Mapping[str, str]] = {}
    inspect: ClassVar[Inspect | None] = None    # in-band error shapes → typed errors
    describe: ClassVar[Describe | None] = None  # error body → readable message

    def __init__(self, client: HttpClient):
        self.client = client

    @classmethod
    def requires_key(cls) -> bool:
        return bool(cls.key_param or cls.key_header)

    @classmethod
    def create(
        cls,
        base_url: str,
        api_key: Secret | str | None = None,
        *,
        timeout_s: float = 10.0,
        policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        """A provider on ``base_url``; the key goes where this provider expects it."""
        key = api_key.get() if isinstance(api_key, Secret) else api_key
        if cls.requires_key() and not key:
            raise ConfigError(f"provider {cls.name} needs an API key")
        client = HttpClient(
            cls.name,
            base_url,
            timeout_s=timeout_s,
            policy=policy,
            limiter=limiter,
            breaker=breaker,
            auth_params={cls.key_param: key} if cls.key_param and key else None,
            auth_headers={cls.key_header: key} if cls.key_header and key else None,
            headers=cls.headers,
            inspect=cls.inspect,
            describe=cls.describe,
            transport=transport,
            sleep=sleep,
        )
        return cls(client)

    @property
    def breaker(self):
        return self.client.breaker

    def close(self) -> None:
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.client.base_url}>"

    def check_symbol(self, symbol: str) -> str:
        """The symbol goes into a URL: same rules as the symbol map (no '?', '&', '%' ...)."""
        return validate_provider_symbol(self.name, symbol)


def check_range(timeframe: str, start: datetime, end: datetime) -> None:
    if timeframe not in TIMEFRAMES:
        raise ValueError(f"timeframe must be one of {TIMEFRAMES}, got {timeframe!r}")
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware datetimes")
    if start >= end:
        raise ValueError(f"empty range: start {start.isoformat()} >= end {end.isoformat()}")


def empty_bars(provider: str) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in BAR_COLUMNS})
    frame["ts"] = pd.Series(dtype=TS_DTYPE)
    frame["provider"] = pd.Series(dtype="object")
    frame["request"] = pd.Series(dtype="object")
    return frame[list(FRAME_COLUMNS)]


def bars_frame(
    ts: pd.DatetimeIndex,
    columns: Mapping[str, Sequence[Any]],
    *,
    provider: str,
    request: str,
    day_tz: str | None = None,
) -> pd.DataFrame:
    """Build the common frame from UTC timestamps and raw column values (numbers or
    numeric strings); drop rows whose timestamp or a price is null; sort; dedupe.

    ``day_tz`` marks daily bars: each is labelled with its day's local midnight in that
    zone (``daily_label``, the module's rule), whatever instant the provider stamped."""
    if len(ts) == 0:
        return empty_bars(provider)
    if day_tz is not None:
        ts = daily_label(ts, day_tz, provider=provider)
    data: dict[str, Any] = {"ts": pd.DatetimeIndex(ts).tz_convert("UTC").astype(TS_DTYPE)}
    for col in (*PRICE_COLUMNS, "volume"):
        raw = columns.get(col)
        if raw is None:
            if col != "volume":
                raise SchemaMismatch(f"{provider}: bars without a {col!r} field ({request})")
            data[col] = np.full(len(ts), np.nan)
            continue
        if len(raw) != len(ts):
            raise SchemaMismatch(
                f"{provider}: {col!r} has {len(raw)} values for {len(ts)} timestamps ({request})"
            )
        try:
            data[col] = np.asarray(raw, dtype="float64")  # numbers, numeric strings, None → NaN
        except (TypeError, ValueError):
            try:  # the slow path, for what numpy refuses but pandas reads (and for the error)
                data[col] = pd.to_numeric(pd.Series(list(raw), dtype="object"), errors="raise").astype("float64")
            except (TypeError, ValueError) as exc:
                raise SchemaMismatch(f"{provider}: non-numeric {col!r} value ({request})") from exc
    frame = pd.DataFrame({k: np.asarray(v) if k != "ts" else v for k, v in data.items()})
    frame = frame.dropna(subset=["ts", *PRICE_COLUMNS])
    frame = frame.sort_values("ts", kind="stable").drop_duplicates("ts", keep="last")
    frame["provider"] = provider
    frame["request"] = request
    return frame[list(FRAME_COLUMNS)].reset_index(drop=True)


def concat_bars(frames: Sequence[pd.DataFrame], provider: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Join the frames of several requests (chunks, pages) and keep ``[start, end)``."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_bars(provider)
    lo, hi = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
    if len(frames) == 1:  # one answer: already sorted and unique (``bars_frame``)
        frame = frames[0]
        return frame[(frame["ts"] >= lo) & (frame["ts"] < hi)].reset_index(drop=True)
    frame = pd.concat(frames, ignore_index=True)
    frame = frame[(frame["ts"] >= lo) & (frame["ts"] < hi)]
    frame = frame.sort_values("ts", kind="stable").drop_duplicates("ts", keep="last")
    return frame.reset_index(drop=True)


def local_to_utc(values: Sequence[str], tz: str, *, provider: str) -> pd.DatetimeIndex:
    """Exchange-local wall-clock strings → UTC.

    The values must be in chronological order (reverse newest-first lists first) so
    that the repeated hour of a DST fall-back can be told apart (``ambiguous="infer"``);
    a time that cannot exist or cannot be disambiguated is a schema problem, not a guess.
    """
    try:
        naive = pd.DatetimeIndex(pd.to_datetime(list(values), format="ISO8601"))
    except (TypeError, ValueError) as exc:
        raise SchemaMismatch(f"{provider}: unreadable timestamps in the response") from exc
    if naive.tz is not None:
        return naive.tz_convert("UTC")
    try:
        local = naive.tz_localize(tz, ambiguous="infer", nonexistent="raise")
    except Exception as exc:  # pytz.InvalidTimeError / UnknownTimeZoneError, ValueError
        raise SchemaMismatch(f"{provider}: cannot place local times in time zone {tz!r}: {exc}") from exc
    return local.tz_convert("UTC")


def daily_label(ts_utc: pd.DatetimeIndex, tz: str, *, provider: str) -> pd.DatetimeIndex:
    """Any instant of a trading day → that day's local midnight, in UTC (see module doc)."""
    try:
        local_days = pd.DatetimeIndex(ts_utc).tz_convert(tz).normalize()
    except Exception as exc:  # unknown time zone
        raise SchemaMismatch(f"{provider}: unknown exchange time zone {tz!r}") from exc
    return local_days.tz_convert("UTC")


def field(payload: Any, *path: str | int, provider: str) -> Any:
    """``payload[p0][p1]...`` or ``SchemaMismatch`` naming the missing field."""
    node = payload
    for i, key in enumerate(path):
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError) as exc:
            where = ".".join(str(p) for p in path[: i + 1])
            raise SchemaMismatch(f"{provider}: response has no field {where!r}") from exc
    return node


def clean_metadata(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the normalized keys whose value is present ("None", "", "-" count as absent)."""
    out: dict[str, Any] = {}
    for key in METADATA_KEYS:
        value = values.get(key)
        if value is None or (isinstance(value, str) and value.strip() in ("", "None", "-", "N/A")):
            continue
        out[key] = value.strip() if isinstance(value, str) else value
    if "market_cap" in out:
        try:
            out["market_cap"] = float(out["market_cap"])
        except (TypeError, ValueError):
            del out["market_cap"]
    return out
