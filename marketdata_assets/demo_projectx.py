"""The ProjectX part of ``make demo``: a multi-week ``projectx_bars`` backfill against the
local fake gateway, paged across the 20,000-bar cap, then the newest date through
``validated_bars`` → ``ohlc_bars`` → ``indicators``.

The fake gateway runs on a free 127.0.0.1 port with placeholder credentials (the demo never
talks to the real gateway); the backfill is one run, as a bootstrap would be.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

DEMO_INSTRUMENT = "ESZ24"
DEMO_FIRST, DEMO_LAST = "2024-10-07", "2024-11-01"   # four CME weeks: ~27,600 1m bars, two pages


@contextmanager
def fake_gateway_env():
    from marketdata_assets.fakegateway import FakeGateway

    with FakeGateway(port=0) as server:
        env = {**server.settings_env(), "MARKETDATA_PROJECTX_USERNAME": "demo",
               "MARKETDATA_PROJECTX_API_KEY": "demo-key"}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield server
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def run_projectx_demo(instance, resources: dict, quiet: dict) -> tuple[list[str], dict]:
    """Materialize the ProjectX path; returns (failed steps, summary figures)."""
    import dagster as dg

    from marketdata_assets.definitions import PROJECTX_ASSETS, QUALITY_ASSETS, defs
    from marketdata_assets.defs.bars.assets import ohlc_bars
    from marketdata_assets.defs.features.assets import indicators
    from marketdata_assets.defs.partitions import instrument_partitions, key_for

    failed, figures = [], {}
    with fake_gateway_env() as gateway:
        instance.add_dynamic_partitions(instrument_partitions.name, [DEMO_INSTRUMENT])
        backfill = defs.resolve_job_def("projectx_bootstrap").execute_in_process(
            instance=instance, resources=resources, raise_on_error=False, run_config=quiet,
            tags={"dagster/asset_partition_range_start": str(key_for(DEMO_FIRST, DEMO_INSTRUMENT)),
                  "dagster/asset_partition_range_end": str(key_for(DEMO_LAST, DEMO_INSTRUMENT))})
        if not backfill.success:
            failed.append(f"projectx_bars {DEMO_FIRST}..{DEMO_LAST}|{DEMO_INSTRUMENT}")
        else:
            meta = backfill.asset_materializations_for_node("projectx_bars")[0].metadata
            figures = {"bars": meta["dagster/row_count"].value, "retrieveBars calls":
                       meta["retrieve_bars_calls"].value, "seconds": meta["seconds"].value}
            chain = dg.materialize([*QUALITY_ASSETS, ohlc_bars, indicators, *PROJECTX_ASSETS],
                                   selection=["validated_bars", "ohlc_bars", "indicators"],
                                   partition_key=str(key_for(DEMO_LAST, DEMO_INSTRUMENT)), instance=instance,
                                   resources=resources, raise_on_error=False,
                                   # the Sierra part already shows the GX audit: skip its import cost here
                                   run_config={**quiet, "ops": {"validated_bars": {"config": {
                                       "great_expectations": False}}}})
            if not chain.success:
                failed.append(f"{DEMO_LAST}|{DEMO_INSTRUMENT} downstream")
        figures["gateway requests"] = len(gateway.requests())
    return failed, figures
