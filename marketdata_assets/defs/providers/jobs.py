"""The provider chain as a named job: ``provider_bars`` → ``validated_bars`` → ``ohlc_bars`` →
``indicators`` for one partition in one run (the intraday sensor and the demo launch it),
and ``provider_bootstrap``, the backfill target that loads many partitions of
``provider_bars`` in one run so limits and breakers span the backfill."""

import dagster as dg

from marketdata_assets.defs.quality.assets import validated_bars
from marketdata_assets.defs.quality.checks import FRESHNESS_SELECTION

PROVIDER_CHAIN = ("provider_bars", "validated_bars", "ohlc_bars", "indicators")
PROVIDER_CHAIN_KEYS = [dg.AssetKey(a) for a in PROVIDER_CHAIN]   # on every run request (see sierra/jobs.py)
PROVIDER_CHAIN_CHECK_KEYS = sorted(validated_bars.check_keys)

provider_chain_job = dg.define_asset_job(
    "provider_chain",
    selection=dg.AssetSelection.assets(*PROVIDER_CHAIN) - FRESHNESS_SELECTION,
    description="A partition of REST-provider bars to indicators: 1m bars with fallback, validation and "
                "quarantine, bars in six timeframes, indicators.",
    tags={"domain": "providers"},
)

provider_bootstrap_job = dg.define_asset_job(
    "provider_bootstrap", selection=dg.AssetSelection.assets("provider_bars"),
    description="Backfill target for the 90-day provider bootstrap (one run per backfill).",
    tags={"domain": "providers"},
)
