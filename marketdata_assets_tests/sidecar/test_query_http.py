"""GET /bars and /ticks on the sidecar's HTTP face: token, limits, 4xx, JSON and Arrow, cache metrics."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid

import pyarrow as pa
import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer

from marketdata_assets.settings import Secret, get_settings
from marketdata_assets.sidecar.http import Hub, Metrics, make_app
from marketdata_assets.sidecar.query_http import add_query_routes
from marketdata_assets.storage.archive import archive_partition
from marketdata_assets.storage.warehouse import open_warehouse
from marketdata_assets_tests.storage.archive_frames import DAY, NEXT, write_partitions

TOKEN = "q-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RANGE = "start=2024-03-07&end=2024-03-12"


@pytest.fixture
def settings(tmp_path, redis_url):
    url = f"sqlite:///{tmp_path}/w.db"
    with open_warehouse(url) as wh:
        write_partitions(wh, DAY)
        write_partitions(wh, NEXT, shift_days=3)
        archive_partition(wh, str(tmp_path / "archive"), "ESH24", DAY)
    prefix = f"qtest-{uuid.uuid4().hex[:8]}"
    yield dataclasses.replace(get_settings(), warehouse_url=url, redis_url=redis_url, redis_prefix=prefix,
                              query_max_tick_days=2)
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def _requests(settings, calls):
    async def scenario():
        metrics = Metrics()
        app = make_app(lambda: (True, {}), metrics, Hub(metrics), Secret(TOKEN))
        add_query_routes(app, metrics.registry, settings)
        async with TestClient(TestServer(app)) as client:
            out = []
            for path, headers in calls:
                resp = await client.get(path, headers=headers)
                out.append((resp.status, await resp.read(), resp.headers.get("Content-Type", "")))
            return out
    return asyncio.run(scenario())


def test_bars_need_the_token(settings):
    (no_token, _, _), (wrong, _, _) = _requests(settings, [
        (f"/bars?instrument=ESH24&{RANGE}", {}), (f"/bars?instrument=ESH24&{RANGE}", {"Authorization": "Bearer x"})])

    assert no_token == wrong == 401


def test_bars_as_json_span_hot_and_cold(settings):
    [(status, body, ctype)] = _requests(settings, [(f"/bars?instrument=ESH24&timeframe=5m&{RANGE}", AUTH)])

    doc = json.loads(body)
    assert status == 200 and ctype.startswith("application/json")
    assert len(doc["data"]) == 20                      # 10 cold (archived day) + 10 hot
    dates = {row[doc["columns"].index("trading_date")] for row in doc["data"]}
    assert dates == {DAY, NEXT}


def test_ticks_as_arrow_stream(settings):
    [(status, body, ctype)] = _requests(settings, [
        ("/ticks?instrument=ESH24&start=2024-03-07T12:00&end=2024-03-09&format=arrow", AUTH)])

    table = pa.ipc.open_stream(body).read_all()
    assert status == 200 and ctype == "application/vnd.apache.arrow.stream"
    assert table.num_rows == 50 and str(table.schema.field("ts").type) == "timestamp[us, tz=UTC]"


@pytest.mark.parametrize(("query", "message"), [
    ("/bars?instrument=ESH24&start=2024-03-07", "end: required"),
    ("/bars?instrument=ES/../x&" + RANGE, "instrument"),
    ("/bars?instrument=ESH24&timeframe=7x&" + RANGE, "timeframe"),
    ("/bars?instrument=ESH24&start=2024-03-07&end=2026-03-07", "exceeds the limit of 366 days"),
    ("/ticks?instrument=ESH24&" + RANGE, "exceeds the limit of 2 days for /ticks"),
    ("/bars?instrument=" + ",".join(f"A{i}" for i in range(21)) + "&" + RANGE, "at most 20"),
    ("/bars?instrument=ESH24&format=csv&" + RANGE, "format"),
])
def test_bad_parameters_get_a_400_naming_the_parameter(settings, query, message):
    [(status, body, _)] = _requests(settings, [(query, AUTH)])

    assert status == 400
    assert message in json.loads(body)["error"]


def test_repeated_query_is_a_cache_hit_shown_in_metrics(settings):
    path = f"/bars?instrument=ESH24&{RANGE}"
    results = _requests(settings, [(path, AUTH), (path, AUTH), ("/metrics", AUTH)])

    assert results[0][1] == results[1][1]
    metrics = results[2][1].decode()
    assert "marketdata_query_cache_hits_total 1.0" in metrics
    assert "marketdata_query_cache_misses_total 1.0" in metrics
    assert "marketdata_query_cache_evictions_total 0.0" in metrics
