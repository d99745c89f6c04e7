"""The reference tables as a named job: ``reference_data`` and ``symbol_map`` from the
versioned files in the package (the demo launches it; the daily catalog job bootstraps
``reference_data`` on its own when a table is empty)."""

import dagster as dg

reference_job = dg.define_asset_job(
    "reference",
    selection=dg.AssetSelection.assets("reference_data", "symbol_map"),
    description="Load the versioned reference data (markets, sessions, holidays, providers) and the symbol map.",
    tags={"domain": "reference"},
)
