"""OHLCV bars in six timeframes from validated data."""


import dagster as dg

from marketdata_assets.defs.metadata import step_metadata
from marketdata_assets.defs.partitions import market_partitions, partition_of
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.pipelines.sierra import build_bars


@dg.asset(
    group_name="bars",
    partitions_def=market_partitions,
    kinds={"python", "sql"},
    deps=["validated_ticks"],
    automation_condition=dg.AutomationCondition.eager(),
)
def ohlc_bars(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
              sierra: SierraResource) -> dg.MaterializeResult:
    """1m, 5m, 15m, 1h, 4h and session (1d) bars of the partition in ``ohlc_bars``, built
    from validated trades (or from the file's own bars when it stores bars). Intraday bars
    count fixed durations from the session open in UTC, so a DST change neither shifts nor
    duplicates a bar; ``ts`` is the bar start."""
    instrument, trading_date = partition_of(context)
    with warehouse.open() as wh:
        result = build_bars(wh, instrument, sierra.market(instrument), trading_date, context.run_id)
    return dg.MaterializeResult(metadata=step_metadata(result))
