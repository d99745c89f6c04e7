"""OHLCV bars in six timeframes from validated data, per origin, and the gap report."""


import dagster as dg
from pydantic import Field

from marketdata_assets.defs.charts import candlestick_png, markdown_image
from marketdata_assets.defs.metadata import step_metadata
from marketdata_assets.defs.partitions import market_partitions, partition_of
from marketdata_assets.defs.quality.checks import eager_unless_blocked
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.pipelines.bars import DEFAULT_GAP_MIN_MISSING, build_bars
from marketdata_assets.storage.warehouse import partition_scope

CHART_TIMEFRAME = "5m"


class OhlcBarsConfig(dg.Config):
    gap_min_missing_bars: int = Field(default=DEFAULT_GAP_MIN_MISSING, description=(
        "A run of at least this many missing 1m bars while the market is open is reported as a gap in "
        "data_gaps; shorter runs are quiet minutes of a thin market (counted in quiet_minutes only)."))


def chart(wh, instrument: str, trading_date) -> dg.MetadataValue | None:
    """Candlesticks of the partition's 5m bars (the Sierra origin when present, else the provider's)."""
    bars = wh.read("ohlc_bars", {**partition_scope(instrument, trading_date), "timeframe": CHART_TIMEFRAME},
                   columns=["ts", "origin", "open", "high", "low", "close", "volume"], order_by=("ts",))
    if bars.empty:
        return None
    origin = "sierra" if (bars["origin"] == "sierra").any() else bars["origin"].iloc[0]
    bars = bars[bars["origin"] == origin]
    title = f"{instrument} trading date {trading_date}: {CHART_TIMEFRAME} bars ({origin}), UTC"
    return markdown_image(candlestick_png(bars, title), f"{instrument} {trading_date} {CHART_TIMEFRAME}")


@dg.asset(
    group_name="bars",
    partitions_def=market_partitions,
    kinds={"numpy", "pandas", "sqlite", "postgres"},
    owners=["team:market-data"],
    tags={"domain": "bars", "layer": "derived"},
    code_version="1",
    deps=["validated_ticks", "validated_bars"],
    automation_condition=eager_unless_blocked(),
)
def ohlc_bars(context: dg.AssetExecutionContext, config: OhlcBarsConfig, warehouse: WarehouseResource,
              sierra: SierraResource) -> dg.MaterializeResult:
    """1m, 5m, 15m, 1h, 4h and session (1d) bars of the partition in `ohlc_bars`, one set
    per origin: `sierra` from validated trades (or the file's own bars), `provider`
    resampled from the provider's validated 1m bars. The partition's date is the instrument's
    trading date (the session containing the bars), not a UTC day. Intraday bars count fixed
    durations from the session open in UTC, so a DST change neither shifts nor duplicates a
    bar; `ts` is the bar start. Missing 1m bars while the market was open (holidays and the
    daily halt are never missing) are written to `data_gaps`. The materialization shows a
    candlestick chart of the 5m bars. Waits while an upstream partition has a failed
    blocking check."""
    if config.gap_min_missing_bars < 1:
        raise dg.Failure(description="gap_min_missing_bars must be >= 1")
    instrument, trading_date = partition_of(context)
    with warehouse.open() as wh:
        result = build_bars(wh, instrument, sierra.market(instrument), trading_date, context.run_id,
                            gap_min_missing_bars=config.gap_min_missing_bars)
        picture = chart(wh, instrument, trading_date)
    metadata = step_metadata(result, "ohlc_bars")
    if picture is not None:
        metadata["chart"] = picture
    return dg.MaterializeResult(metadata=metadata)
