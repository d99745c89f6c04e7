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


def run_provider_demo(instance, dates: list[str]) -> list[str]:
    """Materialize the provider path through its named jobs; returns the failed partitions
    (empty when all served)."""
    import dagster as dg

    from marketdata_assets.definitions import defs
    from marketdata_assets.defs.partitions import instrument_partitions, key_for
    from marketdata_assets.defs.providers.jobs import PROVIDER_CHAIN
    from marketdata_assets.demo import run_job

    failed = []
    downstream = [dg.AssetKey(k) for k in PROVIDER_CHAIN if k != "provider_bars"]

    with fake_provider_env():
        instance.add_dynamic_partitions(instrument_partitions.name, list(DEMO_INSTRUMENTS))
        if not run_job(defs, "reference", instance, asset_selection=[dg.AssetKey("symbol_map")]).success:
            failed.append("symbol_map")
        for instrument in DEMO_INSTRUMENTS:
            # one run for all dates (provider_bars' single-run backfill policy): limits and breakers span it
            served = run_job(defs, "provider_bootstrap", instance, tags={
                "dagster/asset_partition_range_start": str(key_for(dates[0], instrument)),
                "dagster/asset_partition_range_end": str(key_for(dates[-1], instrument))}).success
            if not served:
                failed.append(f"provider_bars {instrument}")
                continue
            for day in dates:
                if not run_job(defs, "provider_chain", instance, asset_selection=downstream,
                               partition_key=str(key_for(day, instrument))).success:
                    failed.append(f"{day}|{instrument}")
        if not run_job(defs, "catalog_daily", instance).success:
            failed.append("catalog_daily")
    return failed
