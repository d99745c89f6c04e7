"""Which partitions go cold, and archiving one partition for the ``cold_archive`` asset.

A partition is due when it still holds hot rows in any archived table and its trading date
is more than ``hot_days`` days before the instrument's *current* trading date (the trading
date, in the instrument's market, that contains ``now``), so a market whose day rolls at
17:00 Chicago time ages by its own calendar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from marketdata_assets.errors import MarketDataError
from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.model.sessions import Market
from marketdata_assets.storage.archive import Archived, archive_partition
from marketdata_assets.storage.warehouse import Warehouse
from marketdata_assets.storage.warehouse.schema import ARCHIVED_TABLES

# constant SQL per table: names come from the schema, never from input
_HOT_PARTITIONS = {name: f"SELECT DISTINCT instrument, trading_date FROM {name} "  # noqa: S608
                         f"WHERE trading_date < %(before)s" for name in ARCHIVED_TABLES}


def current_trading_date(market: Market, now: pd.Timestamp) -> date:
    us = np.array([now.tz_convert("UTC").value // 1000], dtype=np.int64)
    return pd.Timestamp(market.trading_dates(us)[0]).date()


def hot_partitions_before(wh: Warehouse, before: date) -> pd.DataFrame:
    """(instrument, trading_date) pairs with hot rows in any archived table before ``before``."""
    frames = [wh.query(sql, {"before": before.isoformat()}) for sql in _HOT_PARTITIONS.values()]
    both = pd.concat([f for f in frames if len(f)] or [pd.DataFrame(columns=["instrument", "trading_date"])],
                     ignore_index=True)
    both["trading_date"] = both["trading_date"].map(lambda d: str(d)[:10])
    return both.drop_duplicates().sort_values(["trading_date", "instrument"], ignore_index=True)


def archive_candidates(wh: Warehouse, now: pd.Timestamp, hot_days: int,
                       market_of: Callable[[str], Market]) -> list[tuple[str, str]]:
    """(instrument, trading date) of every partition due for the archive (see the module docstring)."""
    latest_cutoff = (now.tz_convert("UTC") + pd.Timedelta(days=2)).date() - timedelta(days=hot_days)
    due = []
    for row in hot_partitions_before(wh, latest_cutoff).itertuples(index=False):
        try:
            instrument = validate_instrument(row.instrument)
            market = market_of(instrument)
        except (MarketDataError, ValueError):
            continue   # a name no market claims cannot age; the integrity report lists such orphans
        if date.fromisoformat(row.trading_date) < current_trading_date(market, now) - timedelta(days=hot_days):
            due.append((instrument, row.trading_date))
    return due


@dataclass
class ArchiveOutcome:
    files: list[Archived] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def per_table(self) -> dict[str, int]:
        return {f.table: f.rows for f in self.files}


def archive(wh: Warehouse, root: str, instrument: str, trading_date: date | str) -> ArchiveOutcome:
    return ArchiveOutcome(archive_partition(wh, root, validate_instrument(instrument), trading_date))
