"""Streaming visibility in Dagster: the sidecar's heartbeat as a check on ``live_stream``.

The sidecar never imports Dagster; it writes a heartbeat to Redis with a TTL. This sensor
reads it and reports the ``sidecar_heartbeat`` check on the external asset ``live_stream``
when its state changes (and every 10 minutes), so the UI shows when streaming is down.
The same check can be run by hand from the asset's page.
"""

import json
import time

import dagster as dg

from marketdata_assets.settings import get_settings

LIVE_STREAM = dg.AssetKey("live_stream")
CHECK = "sidecar_heartbeat"
REPORT_EVERY_S = 600

live_stream = dg.AssetSpec(
    LIVE_STREAM, group_name="live", kinds={"redis"},
    description="Ticks, live bars and indicators the streaming sidecar keeps in Redis "
                "(MARKETDATA_REDIS_URL, prefix MARKETDATA_REDIS_PREFIX); written outside Dagster.",
)


def heartbeat_status(beat: dict | None, error: str | None = None) -> tuple[bool, str, dict]:
    if error is not None:
        return False, f"Redis unreachable: {error}", {}
    if beat is None:
        return False, "no heartbeat: the sidecar is stopped or has not written for its TTL", {}
    meta = {"age_s": round(float(beat["age_s"]), 3), "status": str(beat.get("status")),
            "pid": int(beat.get("pid", 0)), "instruments": dg.MetadataValue.json(beat.get("instruments", {}))}
    if beat["stale"]:
        return False, f"heartbeat stale: {beat['age_s']:.0f} s old, status {beat.get('status')}", meta
    return True, f"sidecar running, heartbeat {beat['age_s']:.1f} s old", meta


def read_heartbeat() -> tuple[dict | None, str | None]:
    import redis

    from marketdata_assets.storage.live_cache import LiveCache

    settings = get_settings()
    try:
        with LiveCache(settings.redis_url, settings.redis_prefix, stale_s=settings.sidecar_heartbeat_stale_s) as cache:
            return cache.heartbeat(), None
    except redis.RedisError as exc:
        return None, type(exc).__name__  # the URL may hold a password: never echo it


def _evaluation(passed: bool, text: str, meta: dict) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(asset_key=LIVE_STREAM, check_name=CHECK, passed=passed, metadata=meta,
                                   severity=dg.AssetCheckSeverity.ERROR, description=text)


@dg.asset_check(asset=LIVE_STREAM, name=CHECK, description="The streaming sidecar's heartbeat in Redis is fresh.")
def sidecar_heartbeat_check() -> dg.AssetCheckResult:
    passed, text, meta = heartbeat_status(*read_heartbeat())
    return dg.AssetCheckResult(passed=passed, metadata=meta, description=text, severity=dg.AssetCheckSeverity.ERROR)


def evaluate(context, now_s: float) -> dg.SkipReason:
    passed, text, meta = heartbeat_status(*read_heartbeat())
    cursor = json.loads(context.cursor) if context.cursor else {}
    if cursor.get("passed") != passed or now_s - cursor.get("reported_s", 0) >= REPORT_EVERY_S:
        context.instance.report_runless_asset_event(_evaluation(passed, text, meta))
        cursor = {"passed": passed, "reported_s": now_s}
    context.update_cursor(json.dumps(cursor))
    return dg.SkipReason(text)


@dg.sensor(name="sidecar_heartbeat_sensor", minimum_interval_seconds=30,
           default_status=dg.DefaultSensorStatus.RUNNING)
def sidecar_heartbeat_sensor(context: dg.SensorEvaluationContext):
    """Shows in the UI (check sidecar_heartbeat on live_stream) whether the streaming sidecar is alive."""
    return evaluate(context, time.time())
