"""Catalog assets: symbols discovered in the market data, their provider metadata, and the
data integrity report. Unpartitioned: each covers the whole warehouse. The daily catalog
job (`jobs.py`) runs the same steps in order, continuing past a failed one."""

import dagster as dg

from marketdata_assets.defs.catalog.checks import REPORT_CHECKS, check_results
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
from marketdata_assets.errors import ConfigError, SourceUnavailable

CATALOG = {"owners": ["team:data-platform"], "tags": {"domain": "catalog"}, "code_version": "1",
           "kinds": {"pandas", "sqlite", "postgres"}, "group_name": "catalog"}


@dg.asset(**CATALOG, deps=["reference_data", "validated_ticks", "ohlc_bars"])
def symbols(context: dg.AssetExecutionContext, config: SymbolsConfig, warehouse: WarehouseResource,
            sierra: SierraResource) -> dg.MaterializeResult:
    """Every instrument in `ticks` / `ohlc_bars` that resolves to no symbol is added to
    `symbols` with its parsed attributes (asset class, market, venue from the file suffix or
    the reference data, futures root / month code / expiry, FX and crypto base / quote), so
    that no market-data row is an orphan afterwards. Spellings of one symbol (`ESZ24`,
    `ESZ24-CME`, `esz24`) are merged into the canonical one, the others kept in
    `symbol_aliases`. Symbols without data for `inactive_after_days` are deactivated,
    never deleted."""
    try:
        with warehouse.open() as wh:
            meta = run_symbols(context.log, context.run_id, config, wh, sierra)
            table = table_metadata("symbols", wh.count("symbols"))
    except ConfigError as exc:
        raise dg.Failure(description=str(exc)) from exc
    return dg.MaterializeResult(metadata={**table, **as_metadata(meta)})


@dg.asset(**CATALOG, deps=[symbols])
def enriched_assets(context: dg.AssetExecutionContext, config: EnrichmentConfig, warehouse: WarehouseResource,
                    metadata_providers: MetadataProvidersResource) -> dg.MaterializeResult:
    """Name, sector, industry, exchange, currency, market cap and description of every active
    symbol that has company metadata, from the providers in priority order (Alpha Vantage
    OVERVIEW, Polygon ticker details, Twelve Data profile; CoinMarketCap for crypto), each
    within the rate limit its client enforces. A record names the provider of every field,
    the fields still missing and why each other provider gave nothing; futures, FX,
    commodities and indices are recorded as `not_applicable`, not as failures."""
    try:
        with warehouse.open() as wh:
            meta = run_enrichment(context.log, context.run_id, config, wh, metadata_providers)
            table = table_metadata("enriched_assets", wh.count("enriched_assets"))
    except SourceUnavailable as exc:
        raise dg.Failure(description=str(exc)) from exc
    return dg.MaterializeResult(metadata={**table, **as_metadata(meta)})


@dg.asset(**CATALOG, check_specs=REPORT_CHECKS,
          deps=[symbols, enriched_assets, "validated_ticks", "ohlc_bars"])
def data_integrity_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """How far the warehouse can be trusted, from its rows: quality (kept records' score,
    quarantined ones counting 0), quarantined share, symbol coverage, enrichment coverage,
    orphan rows and the last timestamp of every instrument. One `data_integrity_reports`
    row per run; the thresholds are this asset's checks."""
    with warehouse.open() as wh:
        meta, checks = run_report(context.log, context.run_id, wh)
        table = table_metadata("data_integrity_reports", wh.count("data_integrity_reports"))
    return dg.MaterializeResult(metadata={**table, **meta}, check_results=check_results(checks))


CATALOG_ASSETS = [symbols, enriched_assets, data_integrity_report]
