"""The data integrity report: figures computed from the warehouse rows, held to the
thresholds of :mod:`transforms.integrity`, and one ``data_integrity_reports`` row per run.

Definitions (every figure from real rows, hot and archived, nothing estimated):

- ``quality``: sum of ``quality_score`` over kept records (``ticks`` + ``base_bars``) divided
  by all records the validation saw (kept + ``quarantine``), i.e. a quarantined record
  counts as quality 0. ``tick_quality`` / ``bar_quality``: plain means per table.
- ``quarantined_share``: quarantined / (kept + quarantined).
- ``symbol_coverage``: share of instrument names in ``ticks``/``ohlc_bars`` that resolve to a
  symbol (directly or through an alias).
- ``enrichment_coverage``: share of *active* symbols whose asset class takes company metadata
  (see ``reference/providers.json``) that have a ``complete`` or ``partial`` record;
  futures, FX, commodities and indices do not count either way.
- ``orphan_records``: rows of ``ticks`` and ``ohlc_bars`` whose instrument resolves to no symbol.
- ``freshness``: last timestamp per instrument name and its age at report time.

A ratio with an empty denominator is NULL: the coverage checks then pass (nothing to
cover), the quality check fails (no market data is not good data).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pandas as pd

from marketdata_assets.pipelines.catalog.symbols import market_data_spans, resolution
from marketdata_assets.storage.warehouse import Warehouse
from marketdata_assets.transforms.integrity import CheckOutcome, evaluate_checks


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


def integrity_figures(wh: Warehouse, now: pd.Timestamp, enrichable_classes: frozenset[str]) -> dict:
    """Every figure of the report (see the module docstring)."""
    n_ticks, q_ticks = wh.total("ticks", "quality_score")      # hot and cold rows
    n_bars, q_bars = wh.total("base_bars", "quality_score")
    quarantined = wh.count("quarantine")
    seen = n_ticks + n_bars + quarantined
    spans = market_data_spans(wh)
    names = resolution(wh)
    resolved = spans["instrument"].isin(names.keys())
    symbols = wh.read("symbols", columns=["symbol", "asset_class", "active"])
    active = symbols[symbols["active"].astype(int) == 1]
    applicable = active[active["asset_class"].isin(enrichable_classes)]
    enriched = wh.read("enriched_assets", columns=["symbol", "status"])
    covered = applicable["symbol"].isin(enriched.loc[enriched["status"].isin(["complete", "partial"]), "symbol"])
    freshness = {r.instrument: {"last_ts": r.last_ts.isoformat(),
                                "age_hours": round((now - r.last_ts).total_seconds() / 3600, 2)}
                 for r in spans.itertuples()}
    return {
        "quality": _ratio(q_ticks + q_bars, seen), "tick_quality": _ratio(q_ticks, n_ticks),
        "bar_quality": _ratio(q_bars, n_bars), "quarantined_share": _ratio(quarantined, seen),
        "kept_records": n_ticks + n_bars, "quarantined_records": quarantined,
        "instruments": len(spans), "instruments_with_symbol": int(resolved.sum()),
        "symbol_coverage": _ratio(resolved.sum(), len(spans)),
        "symbols": len(symbols), "active_symbols": len(active),
        "enrichment_applicable": len(applicable), "enrichment_covered": int(covered.sum()),
        "enrichment_coverage": _ratio(covered.sum(), len(applicable)),
        "orphan_records": int(spans.loc[~resolved, "rows"].sum()),
        "orphan_instruments": sorted(spans.loc[~resolved, "instrument"]),
        "freshness": freshness,
    }


def write_report(wh: Warehouse, run_id: str, now: pd.Timestamp, enrichable_classes: frozenset[str],
                 failed_components: Mapping[str, str] | None = None) -> tuple[dict, list[CheckOutcome]]:
    """Compute the figures and checks and insert this run's ``data_integrity_reports`` row
    (re-running the same run id replaces its row)."""
    fig = integrity_figures(wh, now, enrichable_classes)
    checks = evaluate_checks(fig)
    failed = dict(failed_components or {})
    row = {
        **{k: v for k, v in fig.items() if k != "orphan_instruments"},
        "run_id": run_id, "reported_at": now,
        "status": "pass" if all(c.passed for c in checks) and not failed else "fail",
        "failed_components": json.dumps(failed), "freshness": json.dumps(fig["freshness"]),
        "checks": json.dumps({c.name: {"passed": c.passed, "value": c.value, "threshold": c.threshold}
                              for c in checks}),
    }
    wh.upsert("data_integrity_reports", pd.DataFrame([row]), ("run_id",))
    return {**row, "orphan_instruments": fig["orphan_instruments"], "failed_components": failed}, checks
