"""The provider half of ``make demo``: provider assets against the local fake server.

Starts the fake providers on a free 127.0.0.1 port with Yahoo answering HTTP 429 (so the
fallback shows), points the provider settings at it with placeholder keys and raised rate
limits (the demo never talks to the real APIs), and materializes ``symbol_map`` and the provider path for the demo
instruments over the sample dates as one single-run backfill per instrument; then the daily
catalog job (symbols, enrichment from the fake metadata providers, integrity report).
"""

from __future__ import annotations

import os
from contextlib import contextmanager

DEMO_INSTRUMENTS = ("AAPL", "NAS100")
DEMO_KEYS = ("ALPHAVANTAGE_API_KEY", "TWELVEDATA_API_KEY", "POLYGON_API_KEY", "COINMARKETCAP_API_KEY")


@contextmanager
def fake_provider_env():
    from marketdata_assets.fakeproviders import FakeProviders

    with FakeProviders(port=0) as server:
        server.set_fault("yahoo", "429", retry_after=0)
        env = {**server.settings_env(), **{k: "demo-key" for k in DEMO_KEYS},
               "MARKETDATA_HTTP_MAX_ATTEMPTS": "1",
               # the fake server has no free tier: the real quotas would only make the demo wait
               **{f"MARKETDATA_{p.upper()}_RATE_LIMIT": "1000" for p in ("alphavantage", "twelvedata", "polygon")}}
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


def run_provider_demo(instance, resources: dict, dates: list[str], quiet: dict) -> list[str]:
    """Materialize the provider path; returns the failed partitions (empty when all served)."""
    import dagster as dg

    from marketdata_assets.definitions import build_defs
    from marketdata_assets.defs.partitions import instrument_partitions, key_for

    defs = build_defs()
    failed = []
    unique_assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    keys = {k.to_user_string() for a in unique_assets for k in a.keys}
    downstream = [k for k in ("validated_bars", "ohlc_bars", "indicators") if k in keys]

    def run(selection, **kwargs):
        return dg.materialize(unique_assets, selection=selection, instance=instance, resources=resources,
                              raise_on_error=False, run_config=quiet, **kwargs).success

    with fake_provider_env():
        instance.add_dynamic_partitions(instrument_partitions.name, list(DEMO_INSTRUMENTS))
        if not run(["symbol_map"]):
            failed.append("symbol_map")
        for instrument in DEMO_INSTRUMENTS:
            served = run(["provider_bars"], tags={
                "dagster/asset_partition_range_start": str(key_for(dates[0], instrument)),
                "dagster/asset_partition_range_end": str(key_for(dates[-1], instrument))})
            if not served:
                failed.append(f"provider_bars {instrument}")
                continue
            for day in dates:
                if downstream and not run(downstream, partition_key=str(key_for(day, instrument))):
                    failed.append(f"{day}|{instrument}")
        catalog = defs.resolve_job_def("catalog_daily").execute_in_process(
            instance=instance, raise_on_error=False, run_config=quiet)
        if not catalog.success:
            failed.append("catalog_daily")
    return failed
