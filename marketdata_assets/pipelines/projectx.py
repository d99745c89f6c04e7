"""Partition-level steps of the ProjectX path: gateway history → ``raw_bars`` (provider
``projectx``, the request kept), and the contract it came from → ``projectx_contracts``.

A backfill is fetched per instrument over runs of consecutive trading dates, not per
partition: one ``retrieveBars`` call carries up to 20,000 1m bars (about 14 CME days), so
a 90-day bootstrap is 5 calls per instrument instead of 90. ``plan_backfill`` says up
front how many calls that is and how long the rate limit (30 per 30 s) makes it take.

Write rule: each trading date's ``raw_bars`` rows of provider ``projectx`` are replaced in
one transaction (other providers' rows of the partition are left alone), so a re-run
never duplicates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from marketdata_assets.model.sessions import Market
from marketdata_assets.sources.projectx import BARS_LIMIT, ProjectXClient
from marketdata_assets.sources.projectx.rest import BARS_RATE, PROVIDER
from marketdata_assets.storage.warehouse import Warehouse, partition_scope

MAX_DATE_GAP = timedelta(days=4)   # a longer hole between requested dates starts a new span
SECONDS_PER_CALL = 0.5             # typical gateway answer time for a full page (for the estimate)


@dataclass(frozen=True)
class BackfillPlan:
    instrument: str
    spans: list[tuple[date, date]]
    expected_bars: int
    calls: int
    seconds: float

    def describe(self) -> str:
        return (f"{self.instrument}: {len(self.spans)} span(s), ~{self.expected_bars} bars in ~{self.calls} "
                f"retrieveBars call(s) of at most {BARS_LIMIT}; about {self.seconds:.0f} s at "
                f"{BARS_RATE[0]} calls per {BARS_RATE[1]:g} s")


@dataclass
class ProjectXLoad:
    instrument: str
    trading_date: date
    rows: int
    contract_id: str
    note: str = ""
    requests: list[str] = field(default_factory=list)


def spans(dates: list[date]) -> list[tuple[date, date]]:
    """Consecutive runs of ``dates`` (holes up to ``MAX_DATE_GAP`` bridged: weekends)."""
    out: list[tuple[date, date]] = []
    for d in sorted(set(dates)):
        if out and d - out[-1][1] <= MAX_DATE_GAP:
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


def estimate_seconds(calls: int, rate: tuple[int, float] = BARS_RATE) -> float:
    """Wall time of ``calls`` requests under ``rate`` (the first window's worth go at once)."""
    waiting = max(0, math.ceil(calls / rate[0]) - 1) * rate[1]
    return max(waiting, calls * SECONDS_PER_CALL)


def plan_backfill(instrument: str, market: Market, dates: list[date], limit: int = BARS_LIMIT) -> BackfillPlan:
    runs = spans(dates)
    bars = calls = 0
    for first, last in runs:
        n = 0
        d = first
        while d <= last:
            n += len(market.open_minutes_us(d))
            d += timedelta(days=1)
        bars += n
        calls += max(1, math.ceil(n / (limit - 1)))  # pages overlap by the join bar
    return BackfillPlan(instrument, runs, bars, calls, estimate_seconds(calls))


def _utc(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


def store_contract(wh: Warehouse, client: ProjectXClient, instrument: str, run_id: str) -> str:
    c = client.contract(instrument)
    wh.upsert("projectx_contracts", pd.DataFrame([{
        "instrument": instrument, "contract_id": c.id, "name": c.name, "description": c.description,
        "tick_size": c.tick_size, "tick_value": c.tick_value, "symbol_id": c.symbol_id,
        "resolved_at": pd.Timestamp.now(tz="UTC"), "run_id": run_id}]), ("instrument",))
    return c.id


def load_projectx_bars(wh: Warehouse, client: ProjectXClient, instrument: str, market: Market,
                       dates: list[date], run_id: str, *, limit: int = BARS_LIMIT) -> list[ProjectXLoad]:
    """1m bars of every trading date in ``dates`` → ``raw_bars`` (see the module's write rule)."""
    contract_id = store_contract(wh, client, instrument, run_id)
    loads = []
    for first, last in spans(dates):
        lo, hi = market.window_us(first)[0], market.window_us(last)[1]
        frame = client.fetch_bars(contract_id, _utc(lo), _utc(hi), limit=limit)
        ts_us = frame["ts"].dt.as_unit("us").astype("int64").to_numpy()
        days = market.trading_dates(ts_us) if len(frame) else np.array([], dtype="datetime64[D]")
        for d in sorted(x for x in set(dates) if first <= x <= last):
            rows = frame[days == np.datetime64(d)]
            raw = rows.assign(instrument=instrument, trading_date=str(d), timeframe="1m", run_id=run_id)
            wh.replace_partition("raw_bars", raw, partition_scope(instrument, d, provider=PROVIDER))
            note = "" if len(raw) else ("market closed: no data" if not market.session_bounds_us(d)
                                        else "open day, but the gateway has no bars")
            loads.append(ProjectXLoad(instrument, d, len(raw), contract_id, note,
                                      sorted(set(raw["request"])) if len(raw) else []))
    return loads
