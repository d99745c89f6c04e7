"""Streaming visibility in Dagster: the sidecar's heartbeat as a check on `live_stream`.

The sidecar never imports Dagster; it writes a heartbeat to Redis with a TTL. This sensor
reads it and reports the `sidecar_heartbeat` check on the external asset `live_stream`
when its state changes (and every 10 minutes), so the UI shows when streaming is down.
The same check can be run by hand from the asset's page.
"""

import json
import time

import dagster as dg

from marketdata_assets.defs.live.resources import LiveStreamResource

LIVE_STREAM = dg.AssetKey("live_stream")
CHECK = "sidecar_heartbeat"
REPORT_EVERY_S = 600
WARN, ERROR = dg.AssetCheckSeverity.WARN, dg.AssetCheckSeverity.ERROR

live_stream = dg.AssetSpec(
    LIVE_STREAM, group_name="live", kinds={"redis"}, owners=["team:market-data"], tags={"domain": "live"},
    description="Ticks, live bars and indicators the streaming sidecar keeps in Redis "
                "(MARKETDATA_REDIS_URL, prefix MARKETDATA_REDIS_PREFIX); written outside Dagster.",
)


def heartbeat_status(beat: dict | None, error: str | None = None) -> tuple[bool, dg.AssetCheckSeverity, str, dict]:
    """(passed, severity, text, metadata). Redis unreachable is a WARN: no streaming is set up
    here (`make dev` without Redis); a reachable Redis without a fresh heartbeat is an ERROR."""
    if error is not None:
        return False, WARN, f"Redis unreachable ({error}): no streaming sidecar runs here", {}
    if beat is None:
        return False, ERROR, "no heartbeat: the sidecar is stopped or has not written for its TTL", {}
    meta = {"age_s": round(float(beat["age_s"]), 3), "status": str(beat.get("status")),
            "pid": int(beat.get("pid", 0)), "instruments": len(beat.get("instruments", {})),
            "offsets": dg.MetadataValue.json(beat.get("instruments", {}))}
    if beat["stale"]:
        return False, ERROR, f"heartbeat stale: {beat['age_s']:.0f} s old, status {beat.get('status')}", meta
    return True, ERROR, f"sidecar running, heartbeat {beat['age_s']:.1f} s old", meta


def _evaluation(passed: bool, severity: dg.AssetCheckSeverity, text: str, meta: dict) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(asset_key=LIVE_STREAM, check_name=CHECK, passed=passed, metadata=meta,
                                   severity=severity, description=text)


@dg.asset_check(asset=LIVE_STREAM, name=CHECK, description=(
    "The streaming sidecar's heartbeat in Redis is fresh (ERROR when Redis answers without a fresh "
    "heartbeat; WARN when Redis cannot be reached, i.e. no streaming is set up here)."))
def sidecar_heartbeat_check(live: LiveStreamResource) -> dg.AssetCheckResult:
    passed, severity, text, meta = heartbeat_status(*live.read_heartbeat())
    return dg.AssetCheckResult(passed=passed, metadata=meta, description=text, severity=severity)


def evaluate(context, live: LiveStreamResource, now_s: float) -> dg.SkipReason:
    passed, severity, text, meta = heartbeat_status(*live.read_heartbeat())
    cursor = json.loads(context.cursor) if context.cursor else {}
    state = f"{passed}:{severity.value}"
    if cursor.get("state") != state or now_s - cursor.get("reported_s", 0) >= REPORT_EVERY_S:
        context.instance.report_runless_asset_event(_evaluation(passed, severity, text, meta))
        cursor = {"state": state, "reported_s": now_s}
    context.update_cursor(json.dumps(cursor))
    return dg.SkipReason(text)


@dg.sensor(name="sidecar_heartbeat_sensor", minimum_interval_seconds=30,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Every 30 s: reads the streaming sidecar's heartbeat in Redis and reports the "
                       "sidecar_heartbeat check on live_stream when its state changes (and every 10 minutes). "
                       "Launches no run.")
def sidecar_heartbeat_sensor(context: dg.SensorEvaluationContext, live: LiveStreamResource):
    """Shows in the UI (check sidecar_heartbeat on live_stream) whether the streaming sidecar is alive."""
    return evaluate(context, live, time.time())
