"""ProjectX gateway history: 1m bars per trading date × instrument, paged past the cap."""

import time
from collections import defaultdict

import dagster as dg
import pandas as pd

from marketdata_assets.defs.partitions import market_partitions, partitions_of_run
from marketdata_assets.defs.projectx.resources import ProjectXResource
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.errors import ConfigError, SourceUnavailable
from marketdata_assets.pipelines.projectx import load_projectx_bars, plan_backfill
from marketdata_assets.storage.warehouse.schema import table

RAW_BARS_SCHEMA = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in table("raw_bars").columns])


@dg.asset(
    group_name="projectx",
    partitions_def=market_partitions,
    kinds={"python", "sql"},
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def projectx_bars(context: dg.AssetExecutionContext, warehouse: WarehouseResource, sierra: SierraResource,
                  projectx: ProjectXResource) -> dg.MaterializeResult:
    """1m bars of the partition's trading date (the instrument's market calendar, CME Globex for
    ``ESZ24``) from the ProjectX gateway's ``retrieveBars`` into ``raw_bars`` with provider
    ``projectx`` and the request that served each bar; the contract (``CON.F.US.EP.Z24``, tick
    size and value) goes to ``projectx_contracts``. A backfill runs as one run that fetches
    each instrument's whole date range in as few 20,000-bar pages as it needs, under the
    gateway's rate limit, and logs up front how many calls and seconds that will take. From
    here the bars go through ``validated_bars`` → ``ohlc_bars`` → ``indicators`` as origin
    ``provider``, like the REST providers' bars."""
    by_instrument: dict[str, list] = defaultdict(list)
    for instrument, day in partitions_of_run(context):
        by_instrument[instrument].append(day)
    client = projectx.client()
    loads, failures, started, calls_before = [], [], time.monotonic(), client.bars_calls
    with warehouse.open() as wh:
        for instrument, dates in sorted(by_instrument.items()):
            market = sierra.market(instrument)
            plan = plan_backfill(instrument, market, dates)
            context.log.info("projectx backfill %s", plan.describe())
            try:
                loads += load_projectx_bars(wh, client, instrument, market, dates, context.run_id)
            except (SourceUnavailable, ConfigError) as exc:
                failures.append(f"{instrument} ({len(dates)} dates): {exc}")
                context.log.error("%s: %s", instrument, exc)
    if failures:
        raise dg.Failure(description="; ".join(failures)[:4000],
                         metadata={"failed_instruments": len(failures), "served_partitions": len(loads)})
    done = pd.DataFrame([{"partition": f"{x.trading_date}|{x.instrument}", "rows": x.rows,
                          "contract": x.contract_id, "note": x.note or "-"} for x in loads])
    calls = client.bars_calls - calls_before
    rows = int(done["rows"].sum()) if len(done) else 0
    return dg.MaterializeResult(metadata={
        "dagster/row_count": rows,
        "dagster/column_schema": RAW_BARS_SCHEMA,
        "retrieve_bars_calls": calls,
        "seconds": round(time.monotonic() - started, 2),
        "partitions": dg.MetadataValue.md(done.head(60).to_markdown(index=False) if len(done) else "_none_"),
    })
