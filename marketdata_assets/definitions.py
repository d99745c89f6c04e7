"""The code location: wiring only. Reads no environment at import."""

from __future__ import annotations

import dagster as dg

from marketdata_assets.defs.bars.assets import ohlc_bars
from marketdata_assets.defs.quality.assets import validated_ticks
from marketdata_assets.defs.reference.assets import reference_data
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.defs.sierra.assets import sierra_ticks
from marketdata_assets.defs.sierra.sensors import sierra_files_sensor

SIERRA_ASSETS = [reference_data, sierra_ticks, validated_ticks, ohlc_bars]

automation_sensor = dg.AutomationConditionSensorDefinition(
    name="automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
)


def resources() -> dict:
    return {"warehouse": WarehouseResource(), "sierra": SierraResource()}


defs = dg.Definitions(
    assets=SIERRA_ASSETS,
    sensors=[sierra_files_sensor, automation_sensor],
    resources=resources(),
    executor=dg.in_process_executor,
)
