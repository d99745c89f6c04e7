"""The cold archive asset."""

import dagster as dg

from marketdata_assets.defs.metadata import table_metadata
from marketdata_assets.defs.partitions import market_partitions, partition_of
from marketdata_assets.defs.resources import WarehouseResource
from marketdata_assets.defs.storage.resources import ArchiveResource
from marketdata_assets.pipelines.storage import archive


@dg.asset(
    group_name="storage",
    partitions_def=market_partitions,
    kinds={"parquet", "pyarrow", "sqlite", "postgres"},
    owners=["team:market-data"],
    tags={"domain": "storage", "layer": "archive"},
    code_version="1",
    deps=["indicators"],
)
def cold_archive(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                 archive_store: ArchiveResource) -> dg.MaterializeResult:
    """Moves the partition's rows of ticks, raw ticks, base bars, OHLC bars, indicators and
    quarantine out of the database into one zstd Parquet file per table (hive layout under
    the archive root), so the hot tables stay small while every read still sees the data.
    A file counts only once it was read back and its rows and SHA-256 match; the manifest
    row and the removal of the hot rows commit together. The nightly schedule
    archive_nightly runs it for partitions older than the hot window; materializing
    any other partition from the UI archives it on demand. Re-materializing the upstream
    assets of an archived partition takes it back into the database. Its table is the
    `archive_manifest` (one row per archived table of the partition); the rows moved per
    table are numbers (`archived_rows/<table>`)."""
    instrument, trading_date = partition_of(context)
    with warehouse.open() as wh:
        outcome = archive(wh, archive_store.root(), instrument, trading_date)
    files = "\n".join(f"- `{f.table}`: {f.rows} rows, {f.bytes} bytes, `{f.path}`" for f in outcome.files)
    context.log.info("archived %s %s: %d rows in %d files", instrument, trading_date, outcome.rows,
                     len(outcome.files))
    return dg.MaterializeResult(metadata={
        **table_metadata("archive_manifest", len(outcome.files)),
        "archived_rows": dg.MetadataValue.int(outcome.rows),
        **{f"archived_rows/{t}": dg.MetadataValue.int(n) for t, n in outcome.per_table().items()},
        "bytes": dg.MetadataValue.int(outcome.bytes),
        "files": dg.MetadataValue.md(files or "_nothing hot to archive_"),
    })
