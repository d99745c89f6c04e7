"""Sierra Chart ``.depth`` records → ``depth_events`` (asset ``sierra_depth``)."""

import dagster as dg
from pydantic import Field

from marketdata_assets.defs.metadata import step_metadata
from marketdata_assets.defs.partitions import market_partitions, partition_of
from marketdata_assets.defs.resources import DepthResource, SierraResource, WarehouseResource
from marketdata_assets.errors import CorruptFile
from marketdata_assets.pipelines.sierra.depth import load_depth


class SierraDepthConfig(dg.Config):
    full_refresh: bool = Field(default=False, description=(
        "Ignore the checkpoints and re-read the trading date from every .depth file."))


@dg.asset(
    group_name="sierra",
    partitions_def=market_partitions,
    kinds={"numpy", "pandas", "sqlite", "postgres"},
    owners=["team:market-data"],
    tags={"domain": "sierra", "layer": "raw"},
    code_version="1",
    deps=["reference_data"],
    check_specs=[dg.AssetCheckSpec("depth_quarantined_share", asset="sierra_depth",
                                   description="quarantined depth records stay below the configured share, "
                                               "and raw = kept + quarantined")],
)
def sierra_depth(context: dg.AssetExecutionContext, config: SierraDepthConfig, warehouse: WarehouseResource,
                 sierra: SierraResource, depth: DepthResource) -> dg.MaterializeResult:
    """The partition's market-depth records exactly as Sierra Chart wrote them, in
    `depth_events` (command code, flags, price, quantity, file and byte offset): what the
    order book is replayed from, for spreads, liquidity and an auditor's replay. A trading
    date spans two UTC-day files (CME: from 17:00 Chicago the day before); exactly its
    records are read from both. Each file is checkpointed with the book after its last
    batch, so a re-run reads only what was appended; bad records go to `quarantine`. The
    partition's date is the instrument's trading date, not a UTC day."""
    instrument, trading_date = partition_of(context)
    settings = depth.settings()
    with warehouse.open() as wh:
        try:
            result = load_depth(wh, settings.depth_dir, instrument, sierra.market(instrument), trading_date,
                                context.run_id, full_refresh=config.full_refresh)
        except CorruptFile as exc:
            raise dg.Failure(description=str(exc), metadata={"file": exc.path, "offset": exc.offset or 0}) from exc
    if not result.details["files_found"]:
        raise dg.Failure(description=f"no .depth file for {instrument} {trading_date} in {settings.depth_dir}",
                         metadata={"files": [f["file"] for f in result.details["files"]]})
    share = result.details["quarantined_share"]
    context.log.info("%s %s: %d new events, %d in partition, quarantined share %.4f",
                     instrument, trading_date, result.details["appended_events"], result.rows_out, share)
    check = dg.AssetCheckResult(
        check_name="depth_quarantined_share",
        passed=share <= settings.max_quarantined_share and result.details["reconciled"],
        metadata={"quarantined_share": share, "threshold": settings.max_quarantined_share,
                  "reconciliation": result.details["reconciliation"],
                  "quarantined_by_rule": result.details["quarantined_by_rule"]})
    return dg.MaterializeResult(metadata={**step_metadata(result, "depth_events"),
                                          "files": dg.MetadataValue.json(result.details["files"])},
                                check_results=[check])
