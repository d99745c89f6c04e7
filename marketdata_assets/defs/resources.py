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
    `MARKETDATA_SIERRA_DATA_DIR`."""

    data_dir: str | None = Field(default=None, description=(
        "Directory of Sierra Chart .scid files. Unset: MARKETDATA_SIERRA_DATA_DIR (var/sierra)."))

    def directory(self) -> Path:
        return Path(self.data_dir) if self.data_dir else get_settings().sierra_data_dir

    def market(self, instrument: str) -> Market:
        return market_for_instrument(instrument, get_settings().instrument_markets)


class FreshnessResource(dg.ConfigurableResource):
    """How old the current trading date's partition of an open market may get before the
    ``freshness`` checks warn; ``minutes`` defaults to ``MARKETDATA_FRESHNESS_MINUTES`` (15)."""

    minutes: int | None = Field(default=None, description=(
        "Minutes since the partition's last update (or the session open) above which an open "
        "market's current partition is stale. Unset: MARKETDATA_FRESHNESS_MINUTES, default 15."))

    def threshold(self) -> int:
        return self.minutes if self.minutes is not None else get_settings().freshness_minutes
