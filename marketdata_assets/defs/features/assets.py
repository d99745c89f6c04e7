"""Indicators per bar, from the validated bars."""

import dagster as dg

from marketdata_assets.defs.automation import follows_updates
from marketdata_assets.defs.charts import indicator_png, markdown_image
from marketdata_assets.defs.metadata import as_metadata, preview_md, table_metadata, timestamp
from marketdata_assets.defs.partitions import market_partitions, partition_of
from marketdata_assets.defs.resources import WarehouseResource
from marketdata_assets.pipelines.features import WARMUP_BARS, build_indicators
from marketdata_assets.storage.warehouse import partition_scope

CHART_TIMEFRAME = "5m"


def chart_and_preview(wh, instrument: str, trading_date) -> dict:
    """A line chart of the 5m close with EMA, SMA, Bollinger and RSI (Sierra origin when present),
    the partition's first/last bar and a preview."""
    scope = {**partition_scope(instrument, trading_date), "timeframe": CHART_TIMEFRAME}
    ind = wh.read("indicators", scope, order_by=("ts",))
    if ind.empty:
        return {}
    origin = "sierra" if (ind["origin"] == "sierra").any() else ind["origin"].iloc[0]
    ind = ind[ind["origin"] == origin]
    bars = wh.read("ohlc_bars", {**scope, "origin": origin}, columns=["ts", "close"], order_by=("ts",))
    frame = ind.merge(bars, on="ts", how="left")
    title = f"{instrument} trading date {trading_date}: {CHART_TIMEFRAME} indicators ({origin}), UTC"
    return {"chart": markdown_image(indicator_png(frame, title), f"{instrument} {trading_date} indicators"),
            "first_ts": timestamp(ind["ts"].iloc[0]), "last_ts": timestamp(ind["ts"].iloc[-1]),
            "preview": preview_md(ind.drop(columns=["run_id"]).dropna(subset=["rsi_14"]))}


@dg.asset(
    group_name="features",
    partitions_def=market_partitions,
    kinds={"talib", "pandas", "sqlite", "postgres"},
    owners=["team:market-data"],
    tags={"domain": "features", "layer": "derived"},
    code_version="1",
    deps=["ohlc_bars"],
    automation_condition=follows_updates(),
)
def indicators(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """RSI, EMA, SMA, MACD, Bollinger Bands, ATR, session-anchored VWAP and stochastic for
    every bar of the partition (an instrument's trading date), each timeframe and origin,
    computed with TA-Lib over the partition's bars preceded by up to 1000 bars of the previous
    partitions, so its first values equal a continuous computation instead of restarting
    each day. Strategies and the streaming sidecar (whose incremental engine gives the same
    values) read them. The materialization shows the 5m close with its indicators."""
    instrument, trading_date = partition_of(context)
    with warehouse.open() as wh:
        counts = build_indicators(wh, instrument, trading_date, context.run_id)
        extra = chart_and_preview(wh, instrument, trading_date)
    per_timeframe = {}
    for key, n in counts.items():            # "origin:timeframe" → rows
        per_timeframe[key.split(":")[1]] = per_timeframe.get(key.split(":")[1], 0) + n
    return dg.MaterializeResult(metadata={
        **table_metadata("indicators", sum(counts.values())),
        **as_metadata({"per_timeframe": per_timeframe, "warmup_bars": WARMUP_BARS,
                       **{f"rows/{k.replace(':', '/')}": n for k, n in counts.items()}}),
        **extra,
    })
