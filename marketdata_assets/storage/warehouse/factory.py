"""``open_warehouse(url)``: ``sqlite:///path`` → SQLite, ``postgresql://…`` → PostgreSQL."""

from __future__ import annotations

from marketdata_assets.errors import ConfigError
from marketdata_assets.storage.warehouse.base import Warehouse


def open_warehouse(url: str, migrate: bool = True) -> Warehouse:
    scheme = url.split("://", 1)[0].lower()
    if scheme == "sqlite":
        from marketdata_assets.storage.warehouse.sqlite import SQLiteWarehouse

        wh: Warehouse = SQLiteWarehouse(url)
    elif scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        from marketdata_assets.storage.warehouse.postgres import PostgresWarehouse

        wh = PostgresWarehouse(url)
    else:
        raise ConfigError(f"MARKETDATA_WAREHOUSE_URL has unsupported scheme {scheme!r} "
                          "(use sqlite:///path or postgresql://user@host/db)")
    if migrate:
        wh.migrate()
    return wh
