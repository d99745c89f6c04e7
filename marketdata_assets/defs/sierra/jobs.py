"""The Sierra chain as a named job: ``sierra_ticks`` → ``validated_ticks`` → ``ohlc_bars`` →
``indicators`` for one partition in one run. The directory sensor and the demo launch it,
so every run shows its target and can be re-executed from the UI; the chain in one run
reaches ``indicators`` in one launch instead of three automation ticks (README
"Automation and jobs"). The same sensor launches ``sierra_depth_load`` for ``.depth`` files."""

import dagster as dg

from marketdata_assets.defs.quality.assets import validated_ticks
from marketdata_assets.defs.quality.checks import FRESHNESS_SELECTION

SIERRA_CHAIN = ("sierra_ticks", "validated_ticks", "ohlc_bars", "indicators")
# named on every run request: a run without an explicit asset selection records none, and the
# automation then cannot tell that the run also built the downstream assets (it would
# request them again while the run is still going)
SIERRA_CHAIN_KEYS = [dg.AssetKey(a) for a in SIERRA_CHAIN]
# ...with its checks named too: a run given only assets would add every check on them (freshness too)
SIERRA_CHAIN_CHECK_KEYS = sorted(validated_ticks.check_keys)

sierra_chain_job = dg.define_asset_job(
    "sierra_chain",
    # the assets with their own rule checks; not the freshness checks, which freshness_sensor reports
    selection=dg.AssetSelection.assets(*SIERRA_CHAIN) - FRESHNESS_SELECTION,
    description="A partition of Sierra Chart data from the .scid file to indicators: raw records, "
                "validation and quarantine, bars in six timeframes, indicators.",
    tags={"domain": "sierra"},
)

SIERRA_DEPTH_KEYS = [dg.AssetKey("sierra_depth")]
SIERRA_DEPTH_CHECK_KEYS = [dg.AssetCheckKey(dg.AssetKey("sierra_depth"), "depth_quarantined_share")]

sierra_depth_job = dg.define_asset_job(
    "sierra_depth_load",
    selection=dg.AssetSelection.assets("sierra_depth"),
    description="A partition of market depth from its .depth files to depth_events (bad records to quarantine, "
                "the quarantined-share check); book_snapshots follows by automation.",
    tags={"domain": "sierra"},
)
