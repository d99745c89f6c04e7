"""The sidecar's hub journal → ``raw_ticks`` and ``depth_events``."""

import dagster as dg
from pydantic import Field

from marketdata_assets.defs.metadata import step_metadata
from marketdata_assets.defs.partitions import market_partitions, partition_of
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.errors import CorruptFile
from marketdata_assets.settings import get_settings


class LiveTicksConfig(dg.Config):
    full_refresh: bool = Field(default=False, description=(
        "Ignore the checkpoint and replay the whole trading date from the journal again."))


@dg.asset(
    group_name="live",
    partitions_def=market_partitions,
    kinds={"numpy", "pandas", "sqlite", "postgres"},
    owners=["team:market-data"],
    tags={"domain": "live", "layer": "raw"},
    code_version="2",
    deps=["reference_data"],
)
def live_ticks(context: dg.AssetExecutionContext, config: LiveTicksConfig, warehouse: WarehouseResource,
               sierra: SierraResource) -> dg.MaterializeResult:
    """The trades, bid/ask updates and depth events the sidecar received from the ProjectX
    market hub on the partition's trading date, decoded again from its journal of hub
    messages (`MARKETDATA_JOURNAL_DIR/projectx/<instrument>.jsonl`) by the sidecar's own
    decoder into `raw_ticks` (source `projectx:<instrument>`) and `depth_events` (origin
    `projectx`, the gateway's type code in `source_code`), so the streaming day ends up in the
    warehouse and goes through `validated_ticks` (and the book replay) like Sierra data.
    Exactly once: a re-run appends only what was journaled since the last replay, across
    sidecar restarts and crashes."""
    from marketdata_assets.pipelines.live import load_journal

    instrument, trading_date = partition_of(context)
    with warehouse.open() as wh:
        try:
            result = load_journal(wh, get_settings().journal_dir / "projectx", instrument, sierra.market(instrument),
                                  trading_date, context.run_id, full_refresh=config.full_refresh)
        except FileNotFoundError as exc:
            raise dg.Failure(description=str(exc)) from exc
        except CorruptFile as exc:
            raise dg.Failure(description=str(exc), metadata={"file": exc.path, "offset": exc.offset or 0}) from exc
    context.log.info("%s %s: %d journaled records replayed from byte %d, %d rows in partition", instrument,
                     trading_date, result.details["appended_rows"], result.details["start_offset"], result.rows_out)
    return dg.MaterializeResult(metadata=step_metadata(result, "raw_ticks"))
