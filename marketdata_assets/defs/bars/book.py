"""Order-book snapshots and per-minute book bars from ``depth_events`` (asset ``book_snapshots``)."""

import dagster as dg
from pydantic import Field

from marketdata_assets.defs.metadata import as_metadata, step_metadata
from marketdata_assets.defs.partitions import market_partitions, partition_of
from marketdata_assets.defs.quality.checks import eager_unless_blocked
from marketdata_assets.defs.resources import DepthResource, SierraResource, WarehouseResource
from marketdata_assets.errors import ConfigError
from marketdata_assets.model.contracts import tick_size_for
from marketdata_assets.pipelines.bars import build_book, quote_agreement, scid_quotes


class BookSnapshotsConfig(dg.Config):
    min_quote_agreement: float = Field(default=0.99, description=(
        "Share of snapshot instants whose best bid/ask must be within one tick of the .scid quote."))


@dg.asset(
    group_name="bars",
    partitions_def=market_partitions,
    kinds={"numpy", "pandas", "sqlite", "postgres"},
    owners=["team:market-data"],
    tags={"domain": "bars", "layer": "derived"},
    code_version="1",
    deps=["sierra_depth"],
    automation_condition=eager_unless_blocked(),
    check_specs=[
        dg.AssetCheckSpec("book_not_crossed", asset="book_snapshots",
                          description="the book is neither crossed nor locked at any end-of-batch"),
        dg.AssetCheckSpec("book_agrees_with_scid_quotes", asset="book_snapshots",
                          description="snapshot best bid/ask within one tick of the .scid quote at the same instant"),
    ],
)
def book_snapshots(context: dg.AssetExecutionContext, config: BookSnapshotsConfig, warehouse: WarehouseResource,
                   sierra: SierraResource, depth: DepthResource) -> dg.MaterializeResult:
    """The top levels of the order book per side at the end of every snapshot interval that
    saw depth events (`book_snapshots`), and per 1m bar the time-weighted spread, best
    bid/ask sizes and their imbalance (`book_bars`, joinable with `ohlc_bars`): how
    traders read liquidity. The trading date is replayed from the book at its start, so
    the tables are the same however the events were loaded. A crossed or locked book is
    flagged by a check, never fixed; a second check compares the book with the `.scid`
    quotes at the same instants (the two files come from the same feed). The partition's
    date is the instrument's trading date, not a UTC day."""
    instrument, trading_date = partition_of(context)
    settings = depth.settings()
    with warehouse.open() as wh:
        result = build_book(wh, instrument, sierra.market(instrument), trading_date, context.run_id,
                            levels=settings.book_levels, snapshot_seconds=settings.snapshot_seconds)
        quotes = scid_quotes(wh, instrument, trading_date)
    try:
        tick = tick_size_for(instrument)
    except ConfigError:
        tick = 0.0
    agreement = quote_agreement(result.snapshots, quotes, tick)
    d = result.details
    crossed = dg.AssetCheckResult(
        check_name="book_not_crossed", passed=d["crossed_batch_ends"] + d["locked_batch_ends"] == 0,
        metadata={"crossed_batch_ends": d["crossed_batch_ends"], "locked_batch_ends": d["locked_batch_ends"],
                  "batch_ends": d["batch_ends"]})
    share = agreement["share"]
    agree = dg.AssetCheckResult(
        check_name="book_agrees_with_scid_quotes",
        passed=share is not None and share >= config.min_quote_agreement,
        severity=dg.AssetCheckSeverity.ERROR if agreement["compared"] else dg.AssetCheckSeverity.WARN,
        description=None if agreement["compared"] else "no .scid quotes (raw_ticks) to compare with",
        metadata={**{k: v for k, v in agreement.items() if v is not None}, "tick_size": tick,
                  "min_quote_agreement": config.min_quote_agreement})
    context.log.info("%s %s: %d snapshot rows at %d instants, quotes agree %s", instrument, trading_date,
                     d["snapshot_rows"], d["snapshot_instants"], share)
    return dg.MaterializeResult(
        metadata={**step_metadata(result, "book_snapshots"),
                  **as_metadata({f"quote_agreement/{k}": v for k, v in agreement.items() if v is not None})},
        check_results=[crossed, agree])
