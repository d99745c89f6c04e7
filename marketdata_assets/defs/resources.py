"""Dagster resources. Values left unset are read from the environment when a run uses
them (``settings.get_settings()``), never at code-location load."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from marketdata_assets.model.sessions import Market, market_for_instrument
from marketdata_assets.settings import get_settings
from marketdata_assets.storage.warehouse import Warehouse, open_warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse; `url` defaults to `MARKETDATA_WAREHOUSE_URL`."""

    url: str | None = Field(default=None, description=(
        "sqlite:///path or postgresql://user@host:port/db. Unset: MARKETDATA_WAREHOUSE_URL "
        "(sqlite:///var/warehouse.db). Keep URLs with a password in the environment."))

    def open(self) -> Warehouse:
        return open_warehouse(self.url or get_settings().warehouse_url)


class SierraResource(dg.ConfigurableResource):
    """Where the `.scid` files are, and the instruments' markets; `data_dir` defaults to
    `MARKETDATA_SIERRA_DATA_DIR`, `instrument_markets` to `MARKETDATA_INSTRUMENT_MARKETS`."""

    data_dir: str | None = Field(default=None, description=(
        "Directory of Sierra Chart .scid files. Unset: MARKETDATA_SIERRA_DATA_DIR (var/sierra)."))
    instrument_markets: dict[str, str] | None = Field(default=None, description=(
        "Instrument or root → market overrides of the reference data (e.g. {\"MYFX\": \"FX\"}). "
        "Unset: MARKETDATA_INSTRUMENT_MARKETS (none)."))

    def directory(self) -> Path:
        return Path(self.data_dir) if self.data_dir else get_settings().sierra_data_dir

    def markets(self) -> dict[str, str]:
        """The instrument → market overrides in effect."""
        if self.instrument_markets is not None:
            return dict(self.instrument_markets)
        return get_settings().instrument_markets

    def market(self, instrument: str) -> Market:
        return market_for_instrument(instrument, self.markets())


class FreshnessResource(dg.ConfigurableResource):
    """How old the current trading date's partition of an open market may get before the
    ``freshness`` checks warn; ``minutes`` defaults to ``MARKETDATA_FRESHNESS_MINUTES`` (15)."""

    minutes: int | None = Field(default=None, description=(
        "Minutes since the partition's last update (or the session open) above which an open "
        "market's current partition is stale. Unset: MARKETDATA_FRESHNESS_MINUTES, default 15."))

    def threshold(self) -> int:
        return self.minutes if self.minutes is not None else get_settings().freshness_minutes


class DepthResource(dg.ConfigurableResource):
    """Market depth: where the `.depth` files are and how the book is sampled. Unset
    values come from `MARKETDATA_SIERRA_DEPTH_DIR` (default
    `<MARKETDATA_SIERRA_DATA_DIR>/MarketDepthData`), `MARKETDATA_BOOK_LEVELS`,
    `MARKETDATA_BOOK_SNAPSHOT_SECONDS` and `MARKETDATA_DEPTH_MAX_QUARANTINED_SHARE`."""

    depth_dir: str | None = Field(default=None, description=(
        "Directory of Sierra Chart .depth files. Unset: MARKETDATA_SIERRA_DEPTH_DIR "
        "(<MARKETDATA_SIERRA_DATA_DIR>/MarketDepthData)."))
    book_levels: int | None = Field(default=None, description=(
        "Price levels per side kept in each book snapshot. Unset: MARKETDATA_BOOK_LEVELS."))
    snapshot_seconds: float | None = Field(default=None, description=(
        "Seconds between book snapshots. Unset: MARKETDATA_BOOK_SNAPSHOT_SECONDS."))
    max_quarantined_share: float | None = Field(default=None, description=(
        "Share of a partition's depth records that may be quarantined before the check fails. "
        "Unset: MARKETDATA_DEPTH_MAX_QUARANTINED_SHARE."))

    def settings(self):
        from dataclasses import replace

        from marketdata_assets.settings import depth_settings

        base = depth_settings()
        return replace(base, depth_dir=Path(self.depth_dir) if self.depth_dir else base.depth_dir,
                       book_levels=self.book_levels or base.book_levels,
                       snapshot_seconds=self.snapshot_seconds or base.snapshot_seconds,
                       max_quarantined_share=base.max_quarantined_share if self.max_quarantined_share is None
                       else self.max_quarantined_share)
