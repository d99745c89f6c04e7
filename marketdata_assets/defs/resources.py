"""Dagster resources. Values left unset are read from the environment when a run uses
them (``settings.get_settings()``), never at code-location load."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from marketdata_assets.model.sessions import Market, market_for_instrument
from marketdata_assets.settings import get_settings
from marketdata_assets.storage.warehouse import Warehouse, open_warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse; ``url`` defaults to ``MARKETDATA_WAREHOUSE_URL``."""

    url: str | None = None

    def open(self) -> Warehouse:
        return open_warehouse(self.url or get_settings().warehouse_url)


class SierraResource(dg.ConfigurableResource):
    """Where the ``.scid`` files are; ``data_dir`` defaults to ``MARKETDATA_SIERRA_DATA_DIR``."""

    data_dir: str | None = None

    def directory(self) -> Path:
        return Path(self.data_dir) if self.data_dir else get_settings().sierra_data_dir

    def market(self, instrument: str) -> Market:
        return market_for_instrument(instrument, get_settings().instrument_markets)


class DepthResource(dg.ConfigurableResource):
    """Market depth: where the ``.depth`` files are and how the book is sampled. Unset
    values come from ``MARKETDATA_SIERRA_DEPTH_DIR`` (default
    ``<MARKETDATA_SIERRA_DATA_DIR>/MarketDepthData``), ``MARKETDATA_BOOK_LEVELS``,
    ``MARKETDATA_BOOK_SNAPSHOT_SECONDS`` and ``MARKETDATA_DEPTH_MAX_QUARANTINED_SHARE``."""

    depth_dir: str | None = None
    book_levels: int | None = None
    snapshot_seconds: float | None = None
    max_quarantined_share: float | None = None

    def settings(self):
        from dataclasses import replace

        from marketdata_assets.settings import depth_settings

        base = depth_settings()
        return replace(base, depth_dir=Path(self.depth_dir) if self.depth_dir else base.depth_dir,
                       book_levels=self.book_levels or base.book_levels,
                       snapshot_seconds=self.snapshot_seconds or base.snapshot_seconds,
                       max_quarantined_share=base.max_quarantined_share if self.max_quarantined_share is None
                       else self.max_quarantined_share)
