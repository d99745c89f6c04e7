"""Intraday provider sensor: the current trading date's partition of every provider
instrument (``MARKETDATA_PROVIDER_INSTRUMENTS``) while its market is open, every
``MARKETDATA_PROVIDER_SENSOR_INTERVAL_S`` seconds."""

import time

import dagster as dg
import numpy as np

from marketdata_assets.defs.partitions import instrument_partitions, key_for
from marketdata_assets.defs.providers.jobs import (
    PROVIDER_CHAIN_CHECK_KEYS,
    PROVIDER_CHAIN_KEYS,
    provider_chain_job,
)
from marketdata_assets.defs.providers.resources import ProvidersResource
from marketdata_assets.defs.resources import SierraResource
from marketdata_assets.model.instruments import validate_instrument


def evaluate(context, providers: ProvidersResource, sierra: SierraResource, known: set[str],
             now_s: float) -> dg.SensorResult | dg.SkipReason:
    instruments = providers.intraday_instruments()
    if not instruments:
        return dg.SkipReason("no provider instruments (providers.instruments / MARKETDATA_PROVIDER_INSTRUMENTS)")
    cadence = providers.poll_interval_s()
    last = float(context.cursor) if context.cursor else 0.0
    if now_s - last < cadence:
        return dg.SkipReason(f"next provider poll in {cadence - (now_s - last):.0f} s")
    bucket = int(now_s // cadence)
    now_us = int(now_s * 1_000_000)
    requests, new = [], []
    for instrument in map(validate_instrument, instruments):
        market = sierra.market(instrument)
        stamp = np.array([now_us], dtype=np.int64)
        if not market.in_session(stamp)[0]:
            continue
        if instrument not in known:
            new.append(instrument)
        day = str(market.trading_dates(stamp)[0])
        requests.append(dg.RunRequest(run_key=f"{instrument}:{day}:{bucket}", partition_key=key_for(day, instrument),
                                      asset_selection=PROVIDER_CHAIN_KEYS, asset_check_keys=PROVIDER_CHAIN_CHECK_KEYS))
    return dg.SensorResult(
        run_requests=requests, cursor=str(now_s),
        dynamic_partitions_requests=[instrument_partitions.build_add_request(new)] if new else [],
    )


@dg.sensor(name="provider_intraday_sensor", job=provider_chain_job,
           minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.STOPPED,
           description="While their markets are open, launches provider_chain for today's partition of every "
                       "instrument in MARKETDATA_PROVIDER_INSTRUMENTS, every MARKETDATA_PROVIDER_SENSOR_INTERVAL_S.")
def provider_intraday_sensor(context: dg.SensorEvaluationContext, providers: ProvidersResource,
                             sierra: SierraResource):
    """Polls REST providers for today's bars of MARKETDATA_PROVIDER_INSTRUMENTS while their markets are open."""
    known = set(context.instance.get_dynamic_partitions(instrument_partitions.name))
    return evaluate(context, providers, sierra, known, time.time())

