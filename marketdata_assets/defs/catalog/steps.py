"""The catalog steps as the assets and the daily job run them: configuration, reference
documents, the pipeline call, and the metadata shown in the UI."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

import dagster as dg
import pandas as pd
from pydantic import Field

from marketdata_assets.defs.catalog.resources import MetadataProvidersResource
from marketdata_assets.defs.resources import SierraResource
from marketdata_assets.model.sessions import reference_document
from marketdata_assets.model.symbol_map import load_symbol_map
from marketdata_assets.pipelines.catalog.integrity import write_report
from marketdata_assets.pipelines.catalog.symbols import enrich_assets, sync_symbols
from marketdata_assets.pipelines.reference import providers_document
from marketdata_assets.storage.warehouse import Warehouse
from marketdata_assets.transforms.enrichment import EnrichmentRules
from marketdata_assets.transforms.integrity import CheckOutcome
from marketdata_assets.transforms.symbols import SymbolReference


class SymbolsConfig(dg.Config):
    asset_classes: list[str] = Field(default=[], description="Add only symbols of these asset classes (empty: all).")
    venues: list[str] = Field(default=[], description="Add only symbols on these venues or markets (empty: all).")
    batch_size: int = Field(default=500, description="New symbols written per transaction.")
    time_budget_s: float = Field(default=300.0, description=(
        "Stop starting batches after this many seconds; the rest waits for the next run."))
    inactive_after_days: int = Field(default=30, description=(
        "Deactivate symbols without data for this many days (on the data's clock); never deleted."))


class EnrichmentConfig(dg.Config):
    overwrite_existing: bool = Field(default=False, description=(
        "Re-fetch every entry, not only new, partial, failed or stale ones."))
    refresh_after_days: int = Field(default=30, description="Entries older than this many days are fetched again.")
    time_budget_s: float = Field(default=600.0, description=(
        "Stop starting symbols after this many seconds; the rest waits for the next run."))


def now_utc() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").floor("us")


def symbol_reference(instrument_markets: Mapping[str, str] | None = None) -> SymbolReference:
    """The reference data and symbol map as the symbol sync reads them, with the instrument →
    market overrides of the ``sierra`` resource (``SierraResource.markets()``)."""
    smap = load_symbol_map()
    records = [{"generic": g, "broker": smap.broker_symbol(g), "asset_class": smap.instrument(g).asset_class}
               for g in smap.generics]
    return SymbolReference.from_documents(reference_document(), records, dict(instrument_markets or {}))


def as_metadata(values: dict) -> dict:
    out = {}
    for key, value in values.items():
        if isinstance(value, bool):
            out[key] = dg.MetadataValue.bool(value)
        elif isinstance(value, int):
            out[key] = dg.MetadataValue.int(value)
        elif isinstance(value, float):
            out[key] = dg.MetadataValue.float(value)
        elif isinstance(value, dict | list):
            out[key] = dg.MetadataValue.json(value)
        elif value is None:
            out[key] = dg.MetadataValue.text("n/a")
        else:
            out[key] = dg.MetadataValue.text(str(value))
    return out


def run_symbols(log: logging.Logger, run_id: str, config: SymbolsConfig, wh: Warehouse,
                sierra: SierraResource) -> dict:
    res = sync_symbols(wh, symbol_reference(sierra.markets()), run_id, now_utc(), asset_classes=config.asset_classes,
                       venues=config.venues, batch_size=config.batch_size, time_budget_s=config.time_budget_s,
                       inactive_after_days=config.inactive_after_days)
    log.info("symbols: %d added, %d aliases, %d merged, %d deactivated, %d orphan rows left",
             len(res.added), len(res.aliases_added), len(res.merged), len(res.deactivated), res.orphan_records)
    return {
        "added": len(res.added), "added_symbols": res.added[:200], "aliases_added": res.aliases_added,
        "merged": res.merged, "merged_groups": len(res.merged), "filtered_out": res.filtered,
        "invalid_names": res.invalid, "pending": len(res.pending), "batches": res.batches,
        "deactivated": res.deactivated, "reactivated": res.reactivated, "spans_updated": res.spans_updated,
        "symbols": res.symbols, "active_symbols": res.active_symbols,
        "orphan_records": res.orphan_records, "orphan_instruments": res.orphan_instruments[:200],
    }


def run_enrichment(log: logging.Logger, run_id: str, config: EnrichmentConfig, wh: Warehouse,
                   providers: MetadataProvidersResource) -> dict:
    smap = load_symbol_map()
    pool = providers.pool()
    try:
        res = enrich_assets(wh, pool, EnrichmentRules.from_document(providers_document()),
                            {g: smap.provider_symbols(g) for g in smap.generics}, run_id, now_utc(),
                            overwrite=config.overwrite_existing, refresh_after_days=config.refresh_after_days,
                            time_budget_s=config.time_budget_s)
    finally:
        pool.close()
    log.info("enrichment: %d symbols asked, %d rows written, statuses %s", res.attempted, res.written,
             dict(res.statuses))
    return {
        "attempted": res.attempted, "written": res.written, "unchanged": res.unchanged,
        "not_applicable_added": res.not_applicable, "pending": res.pending,
        "statuses": dict(res.statuses), "provider_outcomes": dict(res.outcomes),
        "failures": dict(list(res.failures.items())[:50]),
    }


def run_report(log: logging.Logger, run_id: str, wh: Warehouse,
               failed_components: dict[str, str] | None = None) -> tuple[dict, list[CheckOutcome]]:
    rules = EnrichmentRules.from_document(providers_document())
    row, checks = write_report(wh, run_id, now_utc(), frozenset(rules.fields), failed_components)
    log.info("integrity report: %s (%s)", row["status"],
             ", ".join(f"{c.name}={'ok' if c.passed else 'FAILED'}" for c in checks))
    meta = {k: v for k, v in row.items() if k not in ("reported_at", "freshness", "checks", "run_id")}
    meta["freshness"] = dg.MetadataValue.md(freshness_md(json.loads(row["freshness"])))
    return {**as_metadata({k: v for k, v in meta.items() if k != "freshness"}), "freshness": meta["freshness"]}, \
        checks


def freshness_md(freshness: dict) -> str:
    if not freshness:
        return "_no market data_"
    lines = ["| instrument | last ts | age (h) |", "|---|---|---|"]
    lines += [f"| {k} | {v['last_ts']} | {v['age_hours']} |" for k, v in sorted(freshness.items())]
    return "\n".join(lines)
