"""OHLCV bars in six timeframes from validated data, per origin, and the gap report."""


import dagster as dg

from marketdata_assets.defs.metadata import step_metadata
from marketdata_assets.defs.partitions import market_partitions, partition_of
from marketdata_assets.defs.quality.checks import eager_unless_blocked
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.pipelines.sierra import DEFAULT_GAP_MIN_MISSING, build_bars


class OhlcBarsConfig(dg.Config):
    # a run of at least this many missing 1m bars while the market is open is reported as a
    # gap; shorter runs are quiet minutes of a thin market (counted in `quiet_minutes` only)
    gap_min_missing_bars: int = DEFAULT_GAP_MIN_MISSING


@dg.asset(
    group_name="bars",
    partitions_def=market_partitions,
    kinds={"python", "sql"},
    deps=["validated_ticks", "validated_bars"],
    automation_condition=eager_unless_blocked(),
)
def ohlc_bars(context: dg.AssetExecutionContext, config: OhlcBarsConfig, warehouse: WarehouseResource,
              sierra: SierraResource) -> dg.MaterializeResult:
    """1m, 5m, 15m, 1h, 4h and session (1d) bars of the partition in ``ohlc_bars``, one set
    per origin: ``sierra`` from validated trades (or the file's own bars), ``provider``
    resampled from the provider's validated 1m bars. Intraday bars count fixed durations
    from the session open in UTC, so a DST change neither shifts nor duplicates a bar;
    ``ts`` is the bar start. Missing 1m bars while the market was open (holidays and the
    daily halt are never missing) are written to ``data_gaps``. Waits while an upstream
    partition has a failed blocking check."""
    if config.gap_min_missing_bars < 1:
        raise dg.Failure(description="gap_min_missing_bars must be >= 1")
    instrument, trading_date = partition_of(context)
    with warehouse.open() as wh:
        result = build_bars(wh, instrument, sierra.market(instrument), trading_date, context.run_id,
                            gap_min_missing_bars=config.gap_min_missing_bars)
    return dg.MaterializeResult(metadata=step_metadata(result))
