"""The thresholds the data integrity report's figures are held to: figures in, one
:class:`CheckOutcome` per check out. Pure; the figures are ``pipelines.catalog.integrity``'s.

A ratio with an empty denominator is None: the coverage checks then pass (nothing to
cover), the quality check fails (no market data is not good data).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

THRESHOLDS = {"quality": 0.75, "symbol_coverage": 0.90, "enrichment_coverage": 0.70, "orphan_records": 0}


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    value: float | None
    threshold: float
    severity: str        # WARN | ERROR
    description: str


def evaluate_checks(fig: Mapping) -> list[CheckOutcome]:
    def pct(v):
        return "n/a" if v is None else f"{v:.1%}"

    q, sc, ec, orphans = fig["quality"], fig["symbol_coverage"], fig["enrichment_coverage"], fig["orphan_records"]
    t = THRESHOLDS
    return [
        CheckOutcome("quality_above_75pct", q is not None and q > t["quality"], q, t["quality"], "WARN",
                     f"quality {pct(q)} (threshold > {t['quality']:.0%})" if q is not None else "no market data"),
        CheckOutcome("symbol_coverage_above_90pct", sc is None or sc > t["symbol_coverage"], sc,
                     t["symbol_coverage"], "ERROR",
                     f"{fig['instruments_with_symbol']} of {fig['instruments']} instruments have a symbol ({pct(sc)})"),
        CheckOutcome("enrichment_coverage_above_70pct", ec is None or ec > t["enrichment_coverage"], ec,
                     t["enrichment_coverage"], "WARN",
                     f"{fig['enrichment_covered']} of {fig['enrichment_applicable']} enrichable active symbols "
                     f"have metadata ({pct(ec)})"),
        CheckOutcome("no_orphan_records", orphans == t["orphan_records"], float(orphans), t["orphan_records"],
                     "ERROR", f"{orphans} market-data rows without a symbol"
                     + (f" ({', '.join(fig['orphan_instruments'][:10])})" if orphans else "")),
    ]
