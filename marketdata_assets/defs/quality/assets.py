"""Validation: `raw_ticks` → `ticks` / `base_bars` and `raw_bars` → `base_bars`,
everything rejected → `quarantine`; one asset check per quality rule."""


import dagster as dg
from pydantic import Field

from marketdata_assets.defs.automation import follows_updates_from_any_origin
from marketdata_assets.defs.metadata import step_metadata
from marketdata_assets.defs.partitions import market_partitions, partition_of
from marketdata_assets.defs.quality.checks import check_results, rule_check_specs
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.model.contracts import grid_tick_size
from marketdata_assets.pipelines.quality import (
    ReconciliationError,
    ValidationResult,
    validate,
    validate_provider_bars,
)
from marketdata_assets.transforms.verdicts import DEFAULT_MAX_SHARE, check_rules


class ValidationConfig(dg.Config):
    max_quarantined_share: float = Field(default=DEFAULT_MAX_SHARE, description=(
        "A blocking rule's check fails when the rows it quarantines exceed this share of the partition "
        "(also the limit of quarantined_share); below it the rows are quarantined and the check passes, "
        "reporting the count."))
    great_expectations: bool = Field(default=True, description=(
        "Also audit the rules with the Great Expectations suites (observed values in the check metadata); "
        "routing and outcomes come from the numpy rules either way. The suites read the flagged rows and a "
        "10k sample of the rest; off saves the GX import (3-4 s per run process, more under load)."))


def _result(context: dg.AssetExecutionContext, result: ValidationResult, table_name: str,
            rows: int) -> dg.MaterializeResult:
    failed = [v.name for v in result.verdicts if v.status == "fail"]
    if failed:
        context.log.error("blocking checks failed: %s (downstream assets will not run)", ", ".join(failed))
    metadata = {**step_metadata(result, table_name, rows), "partition_score": dg.MetadataValue.float(round(result.partition_score, 6))}
    return dg.MaterializeResult(metadata=metadata, check_results=check_results(result.verdicts))


def _run(step, *args, **kwargs) -> ValidationResult:
    try:
        return step(*args, **kwargs)
    except ReconciliationError as exc:
        raise dg.Failure(description=f"reconciliation failed, nothing written: {exc}") from exc


@dg.asset(
    group_name="quality",
    partitions_def=market_partitions,
    kinds={"numpy", "pandas", "greatexpectations", "sqlite", "postgres"},
    owners=["team:market-data"],
    tags={"domain": "quality", "layer": "validated"},
    code_version="1",
    deps=["sierra_ticks", "live_ticks"],
    automation_condition=follows_updates_from_any_origin(),
    check_specs=rule_check_specs("validated_ticks", check_rules(["ticks", "bars"])),
)
def validated_ticks(context: dg.AssetExecutionContext, config: ValidationConfig, warehouse: WarehouseResource,
                    sierra: SierraResource) -> dg.MaterializeResult:
    """The partition's raw Sierra records assessed by the quality rules (finite positive
    prices, bid ≤ ask, OHLC consistency, inside the session, right trading date, unique
    timestamps, on the instrument's tick grid) and the statistical bad-tick detector.
    Passing trades and bid/ask updates go to `ticks`, passing bars to `base_bars`
    (origin `sierra`), each with its `quality_score`; every other row goes to
    `quarantine` with the rules it failed, so raw = kept + quarantined for every
    partition. Each rule is an asset check (Great Expectations audits the same rules)."""
    instrument, trading_date = partition_of(context)
    with warehouse.open() as wh:
        result = _run(validate, wh, instrument, sierra.market(instrument), trading_date, context.run_id,
                      tick_size=grid_tick_size(instrument), max_share=config.max_quarantined_share,
                      run_gx=config.great_expectations)
    return _result(context, result, "ticks", result.details["ticks"])


@dg.asset(
    group_name="quality",
    partitions_def=market_partitions,
    kinds={"numpy", "pandas", "greatexpectations", "sqlite", "postgres"},
    owners=["team:market-data"],
    tags={"domain": "quality", "layer": "validated"},
    code_version="1",
    deps=["provider_bars", "projectx_bars"],
    automation_condition=follows_updates_from_any_origin(),
    check_specs=rule_check_specs("validated_bars", check_rules(["bars"])),
)
def validated_bars(context: dg.AssetExecutionContext, config: ValidationConfig, warehouse: WarehouseResource,
                   sierra: SierraResource) -> dg.MaterializeResult:
    """The partition's provider 1m bars (`raw_bars`, as received) assessed by the bar
    rules and the bad-tick detector: passing bars go to `base_bars` with origin
    `provider` and `source` = provider + request, the rest to `quarantine` (stage
    `validated_bars`). A partition no provider served has no rows: nothing is written
    and the counts are 0."""
    instrument, trading_date = partition_of(context)
    with warehouse.open() as wh:
        result = _run(validate_provider_bars, wh, instrument, sierra.market(instrument), trading_date,
                      context.run_id, tick_size=grid_tick_size(instrument), max_share=config.max_quarantined_share,
                      run_gx=config.great_expectations)
    return _result(context, result, "base_bars", result.details["base_bars"])
