"""``archive_nightly``: partitions past the hot window → ``cold_archive``, one run each.

Only partitions of the built Definitions are requested (their dates start at
``MARKETDATA_PARTITIONS_START``): hot rows dated before it have no partition to run.
"""

import dagster as dg
import pandas as pd

from marketdata_assets.defs.partitions import date_range, instrument_partitions, key_for
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.defs.sierra.sensors import target_partitions
from marketdata_assets.defs.storage.resources import ArchiveResource
from marketdata_assets.pipelines.storage import archive_candidates

MAX_RUNS_PER_NIGHT = 500   # the rest follow the next night; a first run on years of data stays bounded

# partitions come from the built asset (``with_partitions_start``), never a fixed start
cold_archive_job = dg.define_asset_job("cold_archive_job", selection=["cold_archive"])


@dg.schedule(job=cold_archive_job, cron_schedule="0 3 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING, name="archive_nightly",
             description="Archive every partition older than MARKETDATA_HOT_DAYS (default 30) days.")
def archive_nightly(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource,
                    archive_store: ArchiveResource, sierra: SierraResource):
    now = pd.Timestamp(context.scheduled_execution_time or pd.Timestamp.now(tz="UTC"))
    now = now.tz_localize("UTC") if now.tzinfo is None else now
    known = set(context.instance.get_dynamic_partitions(instrument_partitions.name))
    dates = date_range(target_partitions(context, "cold_archive"))
    with warehouse.open() as wh:
        due = archive_candidates(wh, now, archive_store.days(), sierra.market)
    due = [(i, d) for i, d in due if i in known and d in dates][:MAX_RUNS_PER_NIGHT]
    if not due:
        return dg.SkipReason(f"no partition older than {archive_store.days()} days holds hot rows")
    return [dg.RunRequest(partition_key=key_for(d, i), run_key=f"archive|{i}|{d}|{now.date()}") for i, d in due]
