"""The daily catalog job: bootstrap reference data if needed → symbol sync → enrichment →
integrity report, in that order, continuing past a failed component.

Dagster skips every step downstream of a failed one, so the components are ops that each
catch their own failure (logged with its traceback), record it in the outcome they hand
to the next op, and log the materialization of the asset they stand for when they
succeed. The report names the failed components in its row and metadata; the last op
then fails the run, so a broken component reaches the run-failure webhook instead of
hiding inside a green run.
"""

import dagster as dg

from marketdata_assets.defs.catalog.checks import REPORT_KEY, check_evaluations
from marketdata_assets.defs.catalog.resources import MetadataProvidersResource
from marketdata_assets.defs.catalog.steps import (
    EnrichmentConfig,
    SymbolsConfig,
    as_metadata,
    run_enrichment,
    run_report,
    run_symbols,
)
from marketdata_assets.defs.metadata import table_metadata
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.model.sessions import reference_document
from marketdata_assets.pipelines.reference import load_reference, providers_document, reference_is_empty

Outcomes = dict  # component -> "ok" | "skipped: why" | "failed: Error: message"


def _attempt(context: dg.OpExecutionContext, outcomes: Outcomes, component: str, step) -> Outcomes:
    """Run `step()` (→ metadata or None when skipped); record its outcome and, on success,
    the materialization of the asset `component`."""
    try:
        meta = step()
    except Exception as exc:  # recorded, reported and re-raised as the run's failure by catalog_outcome
        context.log.exception("catalog component %s failed", component)
        return {**outcomes, component: f"failed: {type(exc).__name__}: {str(exc)[:400]}"}
    if meta is None:
        return {**outcomes, component: "skipped: reference tables already loaded"}
    context.log_event(dg.AssetMaterialization(asset_key=component, metadata=meta))
    return {**outcomes, component: "ok"}


@dg.op(out=dg.Out(dict))
def catalog_bootstrap(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> Outcomes:
    """`reference_data` when one of its tables is empty (a fresh warehouse), else nothing."""
    def step():
        with warehouse.open() as wh:
            empty = reference_is_empty(wh)
            if not empty:
                return None
            counts = load_reference(wh, reference_document(), providers_document(), overwrite_existing=False)
        return as_metadata({"bootstrapped_tables": empty, "written": {k: c["written"] for k, c in counts.items()}})

    return _attempt(context, {}, "reference_data", step)


@dg.op(out=dg.Out(dict))
def catalog_symbol_sync(context: dg.OpExecutionContext, config: SymbolsConfig, warehouse: WarehouseResource,
                        sierra: SierraResource, outcomes: Outcomes) -> Outcomes:
    def step():
        with warehouse.open() as wh:
            meta = as_metadata(run_symbols(context.log, context.run_id, config, wh, sierra))
            return {**table_metadata("symbols", wh.count("symbols")), **meta}

    return _attempt(context, outcomes, "symbols", step)


@dg.op(out=dg.Out(dict))
def catalog_enrichment(context: dg.OpExecutionContext, config: EnrichmentConfig, warehouse: WarehouseResource,
                       metadata_providers: MetadataProvidersResource, outcomes: Outcomes) -> Outcomes:
    def step():
        with warehouse.open() as wh:
            meta = as_metadata(run_enrichment(context.log, context.run_id, config, wh, metadata_providers))
            return {**table_metadata("enriched_assets", wh.count("enriched_assets")), **meta}

    return _attempt(context, outcomes, "enriched_assets", step)


@dg.op(out=dg.Out(dict))
def catalog_integrity_report(context: dg.OpExecutionContext, warehouse: WarehouseResource,
                             outcomes: Outcomes) -> Outcomes:
    failed = {k: v.removeprefix("failed: ") for k, v in outcomes.items() if v.startswith("failed")}

    def step():
        with warehouse.open() as wh:
            meta, checks = run_report(context.log, context.run_id, wh, failed)
            meta = {**table_metadata("data_integrity_reports", wh.count("data_integrity_reports")), **meta}
        for evaluation in check_evaluations(checks):
            context.log_event(evaluation)
        return meta

    return _attempt(context, outcomes, REPORT_KEY.path[-1], step)


@dg.op
def catalog_outcome(context: dg.OpExecutionContext, outcomes: Outcomes) -> None:
    """Fail the run, after everything ran, when a component failed."""
    context.log.info("catalog components: %s", outcomes)
    failed = {k: v for k, v in outcomes.items() if v.startswith("failed")}
    if failed:
        raise dg.Failure(
            description="catalog components failed: " + "; ".join(f"{k} ({v[len('failed: '):]})"
                                                                  for k, v in failed.items()),
            metadata={"outcomes": dg.MetadataValue.json(outcomes)},
        )


@dg.job(name="catalog_daily", description=__doc__.split("\n\n")[0],
        tags={"domain": "catalog"})
def catalog_daily_job():
    catalog_outcome(catalog_integrity_report(catalog_enrichment(catalog_symbol_sync(catalog_bootstrap()))))
