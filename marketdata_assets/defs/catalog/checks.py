"""Asset checks of `data_integrity_report`: the thresholds of `transforms/integrity.py`
(quality > 75 %, symbol coverage > 90 %, enrichment coverage > 70 %, orphans = 0), declared
on the asset and evaluated from the report's own figures."""

from __future__ import annotations

import dagster as dg

from marketdata_assets.transforms.integrity import CheckOutcome

REPORT_KEY = dg.AssetKey("data_integrity_report")
CHECK_DESCRIPTIONS = {
    "quality_above_75pct": "Kept records' quality, quarantined records counting 0, is above 75 %.",
    "symbol_coverage_above_90pct": "More than 90 % of instrument names in ticks/ohlc_bars resolve to a symbol.",
    "enrichment_coverage_above_70pct": "More than 70 % of active symbols that take company metadata have some.",
    "no_orphan_records": "No row of ticks/ohlc_bars lacks a symbol.",
}
REPORT_CHECKS = [dg.AssetCheckSpec(name, asset=REPORT_KEY, description=text)
                 for name, text in CHECK_DESCRIPTIONS.items()]


def _severity(outcome: CheckOutcome) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if outcome.severity == "ERROR" else dg.AssetCheckSeverity.WARN


def _metadata(outcome: CheckOutcome) -> dict:
    return {"value": dg.MetadataValue.float(outcome.value) if outcome.value is not None
            else dg.MetadataValue.text("n/a"), "threshold": dg.MetadataValue.float(float(outcome.threshold))}


def check_results(outcomes: list[CheckOutcome]) -> list[dg.AssetCheckResult]:
    """For the asset's `MaterializeResult`."""
    return [dg.AssetCheckResult(check_name=o.name, passed=o.passed, severity=_severity(o),
                                description=o.description, metadata=_metadata(o)) for o in outcomes]


def check_evaluations(outcomes: list[CheckOutcome]) -> list[dg.AssetCheckEvaluation]:
    """The same results as events an op logs (the daily catalog job)."""
    return [dg.AssetCheckEvaluation(asset_key=REPORT_KEY, check_name=o.name, passed=o.passed,
                                    severity=_severity(o), description=o.description, metadata=_metadata(o))
            for o in outcomes]
