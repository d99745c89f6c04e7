"""Helpers of the catalog tests: the Sierra path on sample partitions, extra market-data
rows under other spellings, catalog materializations and table snapshots."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd

from marketdata_assets.defs.catalog.assets import CATALOG_ASSETS
from marketdata_assets.defs.catalog.resources import MetadataProvidersResource
from marketdata_assets.defs.reference.assets import reference_data
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets_tests.defs.helpers import QUIET, materialize_partition

# one trading date of four sample files: a plain future, a "-CME" suffix, a bars file with
# "_FUT_COMEX" and FX (each partition costs ~1.7 s through the Sierra path)
SAMPLE_PARTITIONS = [("2024-03-11", i) for i in ("ESH24", "NQH24-CME", "EURUSD", "GCJ24_FUT_COMEX")]
CATALOG_TABLES = ("asset_classes", "markets", "market_sessions", "market_holidays", "data_providers",
                  "symbols", "symbol_aliases", "enriched_assets")
SORT_KEYS = {"asset_classes": ["code"], "markets": ["code"], "market_sessions": ["market", "name"],
             "market_holidays": ["market", "holiday"], "data_providers": ["name"], "symbols": ["symbol"],
             "symbol_aliases": ["alias"], "enriched_assets": ["symbol"]}


def load_sample(instance, sample_dir, url, partitions=SAMPLE_PARTITIONS) -> None:
    for day, instrument in partitions:
        assert materialize_partition(instance, sample_dir, url, day, instrument).success


def add_daily_bars(url: str, instruments, day: str = "2024-03-11", origin: str = "provider") -> None:
    """Two 1d bars per instrument in ``ohlc_bars`` (as a provider load would write them)."""
    with open_warehouse(url) as wh:
        for i, instrument in enumerate(instruments):
            ts = pd.to_datetime([f"{day} 14:30", f"{day} 15:30"], utc=True).as_unit("us")
            frame = pd.DataFrame({"instrument": instrument, "timeframe": ["1d", "1h"], "ts": ts,
                                  "trading_date": day, "open": 10.0 + i, "high": 11.0 + i, "low": 9.0 + i,
                                  "close": 10.5 + i, "volume": 100.0, "num_trades": np.int64(5),
                                  "origin": origin, "source": "test", "run_id": "test"})
            wh.replace_partition("ohlc_bars", frame, partition_scope(instrument, day, origin=origin))


def materialize_catalog(instance, url, selection=("reference_data", "symbols", "enriched_assets",
                                                  "data_integrity_report"), run_config=None,
                        raise_on_error=True):
    return dg.materialize(
        [reference_data, *CATALOG_ASSETS], selection=list(selection), instance=instance,
        resources={"warehouse": WarehouseResource(url=url), "metadata_providers": MetadataProvidersResource(),
                   "sierra": SierraResource()},
        run_config={**QUIET, **(run_config or {})}, raise_on_error=raise_on_error,
    )


def snapshot(url: str, tables=CATALOG_TABLES) -> dict[str, pd.DataFrame]:
    with open_warehouse(url) as wh:
        return {t: wh.read(t).sort_values(SORT_KEYS[t]).reset_index(drop=True) for t in tables}


def scalar(url: str, sql: str) -> float:
    with open_warehouse(url) as wh:
        value = wh.query(sql).iloc[0, 0]
    return 0.0 if value is None or pd.isna(value) else float(value)
