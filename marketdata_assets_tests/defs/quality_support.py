"""Helpers of the quality asset tests: corrupted partitions written as a loader would write
them, runs of the quality assets, and check results read back from the Dagster instance."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
from dagster._core.event_api import PartitionKeyFilter

from marketdata_assets.definitions import QUALITY_ASSETS, SIERRA_ASSETS
from marketdata_assets.defs.partitions import instrument_partitions, key_for
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.sources.sierra.scid import KIND_BAR, KIND_QUOTE, KIND_TRADE
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
ASSETS = [*SIERRA_ASSETS, *QUALITY_ASSETS]


def raw_from_ticks(ticks: pd.DataFrame) -> pd.DataFrame:
    """``raw_ticks`` rows that :func:`normalize.split_raw` turns back into ``ticks`` (the
    inverse of the loader's decoding: ask in ``high``, bid in ``low``, price in ``close``,
    the aggressor in the bid/ask volumes)."""
    trade = ticks["kind"].to_numpy() == "trade"
    size = ticks["size"].to_numpy(dtype=np.int64)
    side = ticks["aggressor"].to_numpy()
    return pd.DataFrame({
        "instrument": ticks["instrument"].to_numpy(dtype=object), "trading_date": ticks["trading_date"].to_numpy(),
        "ts": ticks["ts"].array, "open": 0.0, "high": ticks["ask"].to_numpy(), "low": ticks["bid"].to_numpy(),
        "close": ticks["price"].to_numpy(), "num_trades": ticks["num_trades"].to_numpy(), "total_volume": size,
        "bid_volume": np.where(trade & (side == 2), size, 0), "ask_volume": np.where(trade & (side == 1), size, 0),
        "kind": np.where(trade, KIND_TRADE, KIND_QUOTE), "sub_trade": ticks["sub_trade"].to_numpy(),
        "source": ticks["source"].to_numpy(dtype=object), "source_offset": ticks["source_offset"].to_numpy(),
        "run_id": "loader",
    })


def raw_from_bars(bars: pd.DataFrame) -> pd.DataFrame:
    """``raw_ticks`` rows of a bar file (kind 2) from base-bar candidates."""
    return pd.DataFrame({
        "instrument": bars["instrument"].to_numpy(dtype=object), "trading_date": bars["trading_date"].to_numpy(),
        "ts": bars["ts"].array, **{c: bars[c].to_numpy() for c in ("open", "high", "low", "close", "num_trades")},
        "total_volume": bars["volume"].to_numpy(), "bid_volume": bars["bid_volume"].to_numpy(),
        "ask_volume": bars["ask_volume"].to_numpy(), "kind": KIND_BAR, "sub_trade": 0,
        "source": bars["source"].to_numpy(dtype=object), "source_offset": bars["source_offset"].to_numpy(),
        "run_id": "loader",
    })


def write_raw(url: str, table: str, frame: pd.DataFrame, instrument: str, day) -> None:
    with open_warehouse(url) as wh:
        wh.replace_partition(table, frame, partition_scope(instrument, day))


def materialize(instance, url, day, instrument, selection, data_dir="/nonexistent", run_config=None,
                raise_on_error=False) -> dg.ExecuteInProcessResult:
    if instrument not in instance.get_dynamic_partitions(instrument_partitions.name):
        instance.add_dynamic_partitions(instrument_partitions.name, [instrument])
    return dg.materialize(
        ASSETS, selection=list(selection), partition_key=key_for(day, instrument), instance=instance,
        resources={"warehouse": WarehouseResource(url=url), "sierra": SierraResource(data_dir=str(data_dir))},
        raise_on_error=raise_on_error, run_config={**QUIET, **(run_config or {})},
    )


def evaluations(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key.path[-1] == asset}


def stored_checks(instance: dg.DagsterInstance, asset: str, day, instrument) -> dict[str, dg.AssetCheckEvaluation]:
    """The latest evaluation of every check of ``asset`` on the partition, read from the
    instance's event log (what the Dagster UI shows)."""
    assets_def = next(a for a in ASSETS if dg.AssetKey(asset) in a.keys)
    partition = str(key_for(day, instrument))
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        list(assets_def.check_keys), partition_filter=PartitionKeyFilter(key=partition))
    return {key.name: rec.event.asset_check_evaluation for key, rec in records.items()
            if rec.event is not None and rec.partition == partition}


def failing_rows(evaluation: dg.AssetCheckEvaluation) -> int:
    return evaluation.metadata["failing_rows"].value
