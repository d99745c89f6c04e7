"""Partition-level steps of the provider path: REST providers → raw_bars (with provenance)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pandas as pd

from marketdata_assets.errors import SourceUnavailable
from marketdata_assets.model.sessions import Market
from marketdata_assets.model.symbol_map import SymbolMap
from marketdata_assets.sources.http import AllProvidersFailed, fetch_with_fallback
from marketdata_assets.storage.warehouse import Warehouse, partition_scope


@dataclass
class ProviderLoad:
    instrument: str
    trading_date: date
    rows: int
    provider: str | None
    attempts: list = field(default_factory=list)
    note: str = ""


def _utc(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


def load_provider_bars(wh: Warehouse, providers, symbols: SymbolMap, instrument: str, market: Market,
                       trading_date: date, run_id: str) -> ProviderLoad:
    """1m bars of the partition from the first healthy provider → ``raw_bars`` (replaces the
    partition). On a day the market is closed, no provider serving is expected: nothing is
    stored and the reasons are kept in the result. An open day no provider can serve raises
    with every provider's reason."""
    if instrument not in symbols:
        raise SourceUnavailable("providers", f"{instrument} is not in the symbol map (reference/symbol_map.json)")
    lo, hi = market.window_us(trading_date)
    scope = partition_scope(instrument, trading_date)
    try:
        frame, provider, attempts = fetch_with_fallback(
            providers, symbols.provider_symbols(instrument), "1m", _utc(lo), _utc(hi), instrument=instrument)
    except AllProvidersFailed as exc:
        if not market.session_bounds_us(trading_date):
            wh.replace_partition("raw_bars", pd.DataFrame(), scope)
            return ProviderLoad(instrument, trading_date, 0, None, exc.attempts, "market closed: no data")
        raise
    ts_us = frame["ts"].dt.as_unit("us").astype("int64")
    frame = frame[(ts_us >= lo) & (ts_us < hi)]
    raw = frame.assign(instrument=instrument, trading_date=str(trading_date), timeframe="1m", run_id=run_id)
    wh.replace_partition("raw_bars", raw, scope)
    return ProviderLoad(instrument, trading_date, len(raw), provider, attempts)
