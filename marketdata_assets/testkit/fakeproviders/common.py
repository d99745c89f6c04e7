"""Types and helpers shared by the fake providers' responders (no aiohttp here, so a
responder is a plain function from a ``Call`` to an ``Answer``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from marketdata_assets.testkit.recorded import recorded_root


@dataclass(frozen=True)
class Call:
    provider: str
    path: str                     # below the provider prefix: "/v8/finance/chart/AAPL"
    query: Mapping[str, str]
    headers: Mapping[str, str]
    base_url: str                 # "http://127.0.0.1:8900/polygon"
    empty: bool = False           # fault "empty": answer with the provider's no-data shape
    now: float | None = None      # live mode: the server's clock (epoch s); None: serve any range
    corrections: Mapping | None = None  # (generic, minute epoch s) -> {field: value}


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any                     # dict/list → JSON; str → text
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def text(status: int, body: str, **headers: str) -> Answer:
    return Answer(status, body, headers, content_type="text/plain")


class Recorded:
    """The recorded real responses (``recorded/<provider>/<file>.json``), read lazily: the
    package's own (``importlib.resources``) unless another directory is given."""

    def __init__(self, directory: Path | str | None = None):
        self.directory: Traversable = Path(directory) if directory else recorded_root()
        self._cache: dict[str, Any] = {}

    def load(self, relpath: str) -> Any:
        if relpath not in self._cache:
            self._cache[relpath] = json.loads(self.directory.joinpath(*relpath.split("/")).read_text("utf-8"))
        return self._cache[relpath]

    def files(self, provider: str) -> list[str]:
        folder = self.directory.joinpath(provider)
        if not folder.is_dir():
            return []
        return sorted(f"{provider}/{p.name}" for p in folder.iterdir() if p.name.endswith(".json"))


def is_invalid(symbol: str) -> bool:
    """Symbols starting with INVALID are unknown to every fake provider."""
    return symbol.upper().startswith("INVALID")


def request_id(call: Call) -> str:
    return hashlib.sha1(f"{call.path}?{sorted(call.query.items())}".encode()).hexdigest()[:32]


def now_utc() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@lru_cache(maxsize=64)
def zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def local_midnight(day: date, tz: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone(tz)).astimezone(UTC)


def parse_local(value: str, tz: str) -> datetime:
    """``"2024-11-22"`` or ``"2024-11-22 15:59:00"`` read in ``tz`` → aware UTC datetime."""
    naive = datetime.fromisoformat(value.strip().replace("T", " "))
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    return naive.replace(tzinfo=zone(tz)).astimezone(UTC)


def local_strings(epochs: np.ndarray, tz: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> list[str]:
    if len(epochs) == 0:
        return []
    local = pd.to_datetime(epochs, unit="s", utc=True).tz_convert(tz).tz_localize(None)
    if fmt == "%Y-%m-%d %H:%M:%S":
        return list(local.astype(str))  # ISO formatting is vectorized; strftime is 5x slower
    return list(local.strftime(fmt))


def num(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"
