"""Run the Sierra assets through Dagster on one partition, in process."""

from __future__ import annotations

import dagster as dg

from marketdata_assets.definitions import SIERRA_ASSETS
from marketdata_assets.defs.partitions import instrument_partitions, key_for
from marketdata_assets.defs.resources import SierraResource, WarehouseResource

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def materialize_partition(instance, data_dir, url, day, instrument, raise_on_error=True,
                          selection=("sierra_ticks", "validated_ticks", "ohlc_bars"), run_config=None):
    if instrument not in instance.get_dynamic_partitions(instrument_partitions.name):
        instance.add_dynamic_partitions(instrument_partitions.name, [instrument])
    config = {**QUIET, **(run_config or {})}
    return dg.materialize(
        SIERRA_ASSETS, selection=list(selection), partition_key=key_for(day, instrument), instance=instance,
        resources={"warehouse": WarehouseResource(url=url), "sierra": SierraResource(data_dir=str(data_dir))},
        raise_on_error=raise_on_error, run_config=config,
    )
