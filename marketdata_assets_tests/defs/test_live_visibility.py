"""The sidecar's heartbeat shows in Dagster as the sidecar_heartbeat check on live_stream."""

from __future__ import annotations

import json
import time
import uuid

import dagster as dg
import pytest
import redis

from marketdata_assets.defs.live.resources import LiveStreamResource
from marketdata_assets.defs.live.sensors import CHECK, LIVE_STREAM, evaluate


@pytest.fixture
def prefix(redis_url, monkeypatch):
    p = f"t{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MARKETDATA_REDIS_URL", redis_url)
    monkeypatch.setenv("MARKETDATA_REDIS_PREFIX", p)
    yield p
    client = redis.Redis.from_url(redis_url)
    client.delete(f"{p}:heartbeat")


def latest(instance):
    key = dg.AssetCheckKey(LIVE_STREAM, CHECK)
    record = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)[0]
    return record.event.dagster_event.event_specific_data


def test_heartbeat_check_fails_when_absent_and_passes_when_fresh(redis_url, prefix):
    client = redis.Redis.from_url(redis_url)
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance)
        evaluate(ctx, LiveStreamResource(), time.time())
        down = latest(instance)
        client.set(f"{prefix}:heartbeat", json.dumps({"ts_us": int(time.time() * 1e6), "pid": 1, "host": "h",
                                                     "status": "running", "instruments": {"ESH24": 56}}), ex=30)
        ctx = dg.build_sensor_context(instance=instance, cursor=ctx.cursor)
        evaluate(ctx, LiveStreamResource(), time.time())
        up = latest(instance)

    assert down.passed is False and "no heartbeat" in down.description
    assert down.severity == dg.AssetCheckSeverity.ERROR           # Redis answers, the sidecar does not
    assert up.passed is True and up.metadata["status"].value == "running"


def test_unreachable_redis_warns_without_echoing_the_url(monkeypatch):
    monkeypatch.setenv("MARKETDATA_REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")
    with dg.instance_for_test() as instance:
        skip = evaluate(dg.build_sensor_context(instance=instance), LiveStreamResource(), time.time())
        result = latest(instance)

    assert result.passed is False and "Redis unreachable" in result.description
    assert result.severity == dg.AssetCheckSeverity.WARN          # no streaming set up here: not a red error
    assert "hunter2" not in result.description and "hunter2" not in skip.skip_message
