"""Jobs of the ProjectX path."""

import dagster as dg

projectx_bootstrap_job = dg.define_asset_job(
    "projectx_bootstrap", selection=dg.AssetSelection.assets("projectx_bars"),
    description="Backfill target for the ProjectX history bootstrap (one run per backfill, pages of 20,000 bars).",
)
