"""The provider half of ``make demo``: provider assets against the local fake server.

Starts the fake providers on a free 127.0.0.1 port with Yahoo answering HTTP 429 (so the
fallback shows) and runs the provider jobs with provider resources configured for it
(base URLs, placeholder keys, raised rate limits, one attempt per request; the process
environment is left alone and the demo never talks to the real APIs): ``symbol_map``, then
the provider path for the demo instruments over the sample dates as one single-run
backfill per instrument; then the daily catalog job (symbols, enrichment from the fake
metadata providers, integrity report).
"""

from __future__ import annotations

from contextlib import contextmanager

DEMO_INSTRUMENTS = ("AAPL", "NAS100")
DEMO_KEY = "demo-key"   # a placeholder the fake server accepts; not a secret


@contextmanager
def fake_provider_resources():
    """The fake server running, and the provider resources pointing at it."""
    from marketdata_assets.defs.catalog.resources import MetadataProvidersResource
    from marketdata_assets.defs.providers.resources import KEYED, ProvidersResource
    from marketdata_assets.testkit.fakeproviders import FakeProviders
    from marketdata_assets.testkit.fakeproviders.server import PROVIDERS

    with FakeProviders(port=0) as server:
        server.set_fault("yahoo", "429", retry_after=0)
        config = {"base_urls": {p: server.base_url(p) for p in PROVIDERS}, "max_attempts": 1,
                  # the fake server has no free tier: the real quotas would only make the demo wait
                  "rate_limits": {p: 1000 for p in ("alphavantage", "twelvedata", "polygon")},
                  **{f"{p}_api_key": DEMO_KEY for p in KEYED}}
        yield {"providers": ProvidersResource(**config), "metadata_providers": MetadataProvidersResource(**config)}


def with_resources(defs, overrides: dict):
    """``defs`` with some resources replaced (the demo's fake-provider configuration)."""
    import dagster as dg

    return dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, sensors=defs.sensors,
                          schedules=defs.schedules, executor=defs.executor,
                          resources={**(defs.resources or {}), **overrides})


def run_provider_demo(instance, dates: list[str], defs=None) -> list[str]:
    """Materialize the provider path through its named jobs; returns the failed partitions
    (empty when all served)."""
    import dagster as dg

    from marketdata_assets.definitions import build_defs
    from marketdata_assets.defs.partitions import instrument_partitions, key_for
    from marketdata_assets.defs.providers.jobs import PROVIDER_CHAIN, PROVIDER_CHAIN_CHECK_KEYS
    from marketdata_assets.demo import run_job

    defs = defs or build_defs()
    failed = []
    downstream = [dg.AssetKey(k) for k in PROVIDER_CHAIN if k != "provider_bars"]

    with fake_provider_resources() as overrides:
        defs = with_resources(defs, overrides)
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
                               checks=PROVIDER_CHAIN_CHECK_KEYS, partition_key=str(key_for(day, instrument))).success:
                    failed.append(f"{day}|{instrument}")
        if not run_job(defs, "catalog_daily", instance).success:
            failed.append("catalog_daily")
    return failed
