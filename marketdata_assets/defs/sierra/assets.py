"""Sierra Chart `.scid` records → `raw_ticks`."""


import dagster as dg
from pydantic import Field

from marketdata_assets.defs.metadata import step_metadata
from marketdata_assets.defs.partitions import date_range, market_partitions, partition_of
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.errors import CorruptFile
from marketdata_assets.pipelines.sierra.ticks import load_raw, scid_path


class SierraTicksConfig(dg.Config):
    full_refresh: bool = Field(default=False, description=(
        "Ignore the partition's checkpoint and re-read the whole trading date from the file "
        "(replaces the partition's raw_ticks)."))


@dg.asset(
    group_name="sierra",
    partitions_def=market_partitions,
    kinds={"numpy", "pandas", "sqlite", "postgres"},
    owners=["team:market-data"],
    tags={"domain": "sierra", "layer": "raw"},
    code_version="1",
    deps=["reference_data"],
)
def sierra_ticks(context: dg.AssetExecutionContext, config: SierraTicksConfig,
                 warehouse: WarehouseResource, sierra: SierraResource) -> dg.MaterializeResult:
    """The partition's records exactly as Sierra Chart wrote them (trades, bid/ask updates,
    or bars when the file stores bars), each with its file and byte offset, in
    `raw_ticks`: the audit trail every later stage is traced back to. A re-run reads only
    what was appended since the partition's checkpoint; a file that shrank or was replaced
    is read again from the start. The partition's date is the instrument's trading date
    (its market's session calendar), not a UTC calendar day. Records outside every date
    partition (invalid DateTime, before MARKETDATA_PARTITIONS_START, after tomorrow) go to
    `quarantine` (stage `sierra_ticks`, rule `timestamp_out_of_range`) under the
    partition of their nearest in-range neighbour in the file: counted here as
    `quarantined_out_of_range`, never skipped silently."""
    instrument, trading_date = partition_of(context)
    path = scid_path(sierra.directory(), instrument)
    if not path.exists():
        raise dg.Failure(description=f"{path}: no such .scid file for instrument {instrument}")
    with warehouse.open() as wh:
        try:
            result = load_raw(wh, path, instrument, sierra.market(instrument), trading_date,
                              context.run_id, full_refresh=config.full_refresh,
                              dates=date_range(context.assets_def.partitions_def))
        except CorruptFile as exc:
            raise dg.Failure(description=str(exc), metadata={"file": exc.path, "offset": exc.offset or 0}) from exc
    context.log.info("%s %s: %d new records from byte %d, %d rows in partition, %d new out-of-range "
                     "records quarantined", instrument, trading_date, result.details["appended_rows"],
                     result.details["start_offset"], result.rows_out, result.details["appended_out_of_range"])
    return dg.MaterializeResult(metadata=step_metadata(result, "raw_ticks"))
