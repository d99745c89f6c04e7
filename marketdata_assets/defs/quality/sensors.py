"""Freshness without runs: every five minutes the session-aware ``freshness`` checks of
``validated_ticks`` and ``ohlc_bars`` are evaluated in the sensor and reported as runless
asset-check evaluations (``SensorResult(asset_events=...)``), so Runs shows nothing for them
while the checks' history in the UI shows every evaluation."""

import time

import dagster as dg

from marketdata_assets.defs.quality.checks import freshness_evaluations
from marketdata_assets.defs.resources import FreshnessResource, SierraResource

FRESHNESS_INTERVAL_S = 300


def evaluate(context, sierra: SierraResource, freshness: FreshnessResource, now_s: float) -> dg.SensorResult:
    evaluations = freshness_evaluations(context.instance, sierra, freshness.threshold(), now_s, log=context.log)
    stale = sorted({i for e in evaluations for i in e.metadata["stale"].data})
    context.log.info("freshness: %s", f"stale {', '.join(stale)}" if stale else "every open market fresh")
    return dg.SensorResult(asset_events=evaluations)


@dg.sensor(name="freshness_sensor", minimum_interval_seconds=FRESHNESS_INTERVAL_S,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Every 5 minutes: reports the session-aware freshness checks of validated_ticks and "
                       "ohlc_bars as runless check evaluations (WARN when an open market's current partition "
                       "is older than the threshold). Launches no run.")
def freshness_sensor(context: dg.SensorEvaluationContext, sierra: SierraResource,
                     freshness: FreshnessResource) -> dg.SensorResult:
    return evaluate(context, sierra, freshness, time.time())
