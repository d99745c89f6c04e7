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
