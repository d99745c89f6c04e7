"""The daily catalog schedule."""

from __future__ import annotations

import dagster as dg

from marketdata_assets.defs.catalog.jobs import catalog_daily_job

# 01:30 UTC: after the CME Globex close (21:00/22:00 UTC), the FX day's end and crypto's UTC midnight.
catalog_daily_schedule = dg.ScheduleDefinition(
    name="catalog_daily_schedule",
    job=catalog_daily_job,
    cron_schedule="30 1 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Bootstrap reference data if needed, then symbol sync, enrichment and the integrity report.",
)
