"""The code location: wiring only. Reads no environment at import: ``defs`` is built lazily."""

from __future__ import annotations

import dagster as dg

from marketdata_assets.defs.bars.assets import ohlc_bars
from marketdata_assets.defs.bars.book import book_snapshots
from marketdata_assets.defs.catalog.assets import CATALOG_ASSETS
from marketdata_assets.defs.catalog.jobs import catalog_daily_job
from marketdata_assets.defs.catalog.resources import AlertWebhookResource, MetadataProvidersResource
from marketdata_assets.defs.catalog.schedules import catalog_daily_schedule
from marketdata_assets.defs.catalog.sensors import run_failure_webhook
from marketdata_assets.defs.features.assets import indicators
from marketdata_assets.defs.live.journal import live_ticks
from marketdata_assets.defs.live.resources import LiveStreamResource
from marketdata_assets.defs.live.sensors import live_stream, sidecar_heartbeat_check, sidecar_heartbeat_sensor
from marketdata_assets.defs.partitions import with_partitions_start
from marketdata_assets.defs.projectx.assets import projectx_bars
from marketdata_assets.defs.projectx.jobs import projectx_bootstrap_job
from marketdata_assets.defs.projectx.resources import ProjectXResource
from marketdata_assets.defs.providers.assets import provider_bars, symbol_map
from marketdata_assets.defs.providers.jobs import provider_bootstrap_job, provider_chain_job
from marketdata_assets.defs.providers.resources import ProvidersResource
from marketdata_assets.defs.providers.sensors import provider_intraday_sensor
from marketdata_assets.defs.quality.assets import validated_bars, validated_ticks
from marketdata_assets.defs.quality.checks import freshness_checks
from marketdata_assets.defs.quality.sensors import freshness_sensor
from marketdata_assets.defs.reference.assets import reference_data
from marketdata_assets.defs.reference.jobs import reference_job
from marketdata_assets.defs.resources import (
    DepthResource,
    FreshnessResource,
    SierraResource,
    WarehouseResource,
)
from marketdata_assets.defs.sierra.assets import sierra_ticks
from marketdata_assets.defs.sierra.depth import sierra_depth
from marketdata_assets.defs.sierra.jobs import sierra_chain_job, sierra_depth_job
from marketdata_assets.defs.sierra.sensors import sierra_files_sensor
from marketdata_assets.defs.storage.assets import cold_archive
from marketdata_assets.defs.storage.backups import (
    BackupResource,
    warehouse_backup,
    warehouse_backup_job,
    warehouse_backup_schedule,
)
from marketdata_assets.defs.storage.resources import ArchiveResource
from marketdata_assets.defs.storage.schedules import archive_nightly, cold_archive_job
from marketdata_assets.settings import Settings, get_settings

SIERRA_ASSETS = [reference_data, sierra_ticks, validated_ticks, ohlc_bars]
PROVIDER_ASSETS = [symbol_map, provider_bars]
FEATURE_ASSETS = [indicators, live_stream]
PROJECTX_ASSETS = [projectx_bars, live_ticks]
QUALITY_ASSETS = [validated_bars]
QUALITY_CHECKS = [freshness_checks]
DEPTH_ASSETS = [sierra_depth, book_snapshots]
STORAGE_ASSETS = [cold_archive, warehouse_backup]

automation_sensor = dg.AutomationConditionSensorDefinition(
    name="automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    # evaluated in the code server: the conditions end with DependencyNewer, a Python condition
    # (defs/automation.py) that keeps a finished chain run from being requested a second time
    use_user_code_server=True,
    description="Declarative automation: requests validated_ticks, validated_bars, ohlc_bars and indicators "
                "for every partition whose upstream was updated after it (any date, not only the latest); "
                "ohlc_bars waits while an upstream blocking check failed.",
)


def resources(settings: Settings) -> dict:
    """The resources, configured when the Definitions are built: what comes from a secret is an
    ``EnvVar`` (the UI names the variable, never the value)."""
    webhook = dg.EnvVar("MARKETDATA_ALERT_WEBHOOK_URL") if settings.alert_webhook_url else None
    return {"warehouse": WarehouseResource(), "sierra": SierraResource(), "providers": ProvidersResource(),
            "metadata_providers": MetadataProvidersResource(), "alert_webhook": AlertWebhookResource(url=webhook),
            "freshness": FreshnessResource(),
            "live": LiveStreamResource(), "depth": DepthResource(), "projectx": ProjectXResource(),
            "archive_store": ArchiveResource(), "backup_store": BackupResource()}


def build_defs(settings: Settings | None = None) -> dg.Definitions:
    """The code location. Settings are read here, when the Definitions are built, never at
    import: the date partitions run from ``MARKETDATA_PARTITIONS_START`` to ``MARKETDATA_PARTITIONS_END``
    (unset: today)."""
    settings = settings or get_settings()
    return dg.Definitions(
        assets=with_partitions_start([*SIERRA_ASSETS, *PROVIDER_ASSETS, *QUALITY_ASSETS, *CATALOG_ASSETS,
                                      *FEATURE_ASSETS, *DEPTH_ASSETS, *PROJECTX_ASSETS, *STORAGE_ASSETS],
                                     settings.partitions_start, settings.partitions_end),
        asset_checks=[*QUALITY_CHECKS, sidecar_heartbeat_check],
        sensors=[sierra_files_sensor, automation_sensor, provider_intraday_sensor, run_failure_webhook,
                 sidecar_heartbeat_sensor, freshness_sensor],
        jobs=[sierra_chain_job, sierra_depth_job, provider_chain_job, provider_bootstrap_job, reference_job,
              catalog_daily_job, projectx_bootstrap_job, cold_archive_job, warehouse_backup_job],
        schedules=[catalog_daily_schedule, archive_nightly, warehouse_backup_schedule],
        resources=resources(settings),
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """What ``dagster dev`` / the code server loads (lazily: no settings read at import)."""
    return build_defs()
