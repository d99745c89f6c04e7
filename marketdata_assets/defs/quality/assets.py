"""Validation: ``raw_ticks`` → ``ticks`` / ``base_bars`` + ``quarantine``."""


import dagster as dg

from marketdata_assets.defs.metadata import step_metadata
from marketdata_assets.defs.partitions import market_partitions, partition_of
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.pipelines.sierra import validate


@dg.asset(
    group_name="quality",
    partitions_def=market_partitions,
    kinds={"python", "sql"},
    deps=["sierra_ticks"],
    automation_condition=dg.AutomationCondition.eager(),
)
def validated_ticks(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                    sierra: SierraResource) -> dg.MaterializeResult:
    """The partition's raw records checked against the invariants every consumer relies on
    (finite positive prices, bid ≤ ask, size ≥ 0, inside the trading session, unique
    timestamps). Passing trades and bid/ask updates go to ``ticks``, passing bars to
    ``base_bars``; every failing row goes to ``quarantine`` with the rules it failed, so
    raw = kept + quarantined for every partition and nothing is silently dropped."""
    instrument, trading_date = partition_of(context)
    with warehouse.open() as wh:
        result = validate(wh, instrument, sierra.market(instrument), trading_date, context.run_id)
    if not result.details["reconciled"]:
        raise dg.Failure(description=f"{instrument} {trading_date}: raw {result.rows_in} != kept "
                                     f"{result.rows_out} + quarantined {result.details['quarantined']}")
    return dg.MaterializeResult(metadata=step_metadata(result))
