"""Indicators per bar, from the validated bars."""

import dagster as dg

from marketdata_assets.defs.automation import follows_updates
from marketdata_assets.defs.partitions import market_partitions, partition_of
from marketdata_assets.defs.resources import WarehouseResource
from marketdata_assets.pipelines.features import WARMUP_BARS, build_indicators


@dg.asset(
    group_name="features",
    partitions_def=market_partitions,
    kinds={"python", "sql"},
    deps=["ohlc_bars"],
    automation_condition=follows_updates(),
)
def indicators(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """RSI, EMA, SMA, MACD, Bollinger Bands, ATR, session-anchored VWAP and stochastic for
    every bar of the partition, each timeframe and origin, computed with TA-Lib over the
    partition's bars preceded by up to 1000 bars of the previous partitions, so its first
    values equal a continuous computation instead of restarting each day. Strategies and
    the streaming sidecar (whose incremental engine gives the same values) read them."""
    instrument, trading_date = partition_of(context)
    with warehouse.open() as wh:
        counts = build_indicators(wh, instrument, trading_date, context.run_id)
    return dg.MaterializeResult(metadata={
        "rows": sum(counts.values()), "per_timeframe": dg.MetadataValue.json(counts), "warmup_bars": WARMUP_BARS,
    })
