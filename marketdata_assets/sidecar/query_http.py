"""``GET /bars`` and ``GET /ticks`` on the sidecar's HTTP face: the read API
(``storage/query.py``) over HTTP, hot and cold, through the Redis query cache.

Parameters: ``instrument`` (repeat it, or comma-separate; at most ``MAX_INSTRUMENTS``),
``start`` and ``end`` (ISO dates or times, UTC when naive; start inclusive, end exclusive),
``timeframe`` (bars: ``1m`` … ``1d``, default ``1m``), ``origin`` (bars: ``sierra`` /
``provider`` / ``projectx``), ``format`` (``json``, the default: ``{"columns", "rows"}`` with
ISO timestamps; or ``arrow``: an Arrow IPC stream). The range may span at most
``MARKETDATA_QUERY_MAX_DAYS`` days for bars and ``MARKETDATA_QUERY_MAX_TICK_DAYS`` for ticks.
Bad parameters get HTTP 400 with ``{"error": …}`` naming the parameter. The token check is
the app's own middleware (``http.py``): these routes are never served without it.

``/metrics`` gains ``marketdata_query_cache_{hits,misses,evictions}_total``, read from the
cache's counters in Redis at scrape time (so they count every process that uses the cache).
"""

from __future__ import annotations

import asyncio
import logging

import pyarrow as pa
import redis
from aiohttp import web
from prometheus_client.core import CounterMetricFamily

from marketdata_assets.settings import Settings
from marketdata_assets.storage.query import BadQuery, Query, run, to_arrow
from marketdata_assets.storage.query_cache import STATS, QueryCache
from marketdata_assets.storage.warehouse import open_warehouse

log = logging.getLogger(__name__)
MAX_INSTRUMENTS = 20
ARROW_STREAM = "application/vnd.apache.arrow.stream"


class CacheCollector:
    """Prometheus collector of the query cache's counters (skipped while Redis is down)."""

    def __init__(self, cache: QueryCache):
        self.cache = cache

    def collect(self):
        try:
            stats = self.cache.stats()
        except redis.RedisError:
            return
        for name in STATS:
            yield CounterMetricFamily(f"marketdata_query_cache_{name}", f"Query cache {name}", value=stats[name])


def parse(request: web.Request, kind: str, settings: Settings) -> Query:
    params = request.query
    names = [n for raw in params.getall("instrument", []) for n in raw.split(",") if n]
    if len(names) > MAX_INSTRUMENTS:
        raise BadQuery(f"instrument: at most {MAX_INSTRUMENTS} per request, got {len(names)}")
    for required in ("start", "end"):
        if required not in params:
            raise BadQuery(f"{required}: required (ISO date or time)")
    q = Query.make(kind, names, params["start"], params["end"], params.get("timeframe"), params.get("origin"))
    limit = settings.query_max_tick_days if kind == "ticks" else settings.query_max_days
    if q.days > limit:
        raise BadQuery(f"start/end: {q.days:g} days exceeds the limit of {limit} days for /{kind}")
    if params.get("format", "json") not in ("json", "arrow"):
        raise BadQuery("format: json or arrow")
    return q


def add_query_routes(app: web.Application, registry, settings: Settings) -> None:
    """Install ``/bars`` and ``/ticks`` on ``app`` and the cache counters in ``registry``."""
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    cache = QueryCache(client, settings.redis_prefix, settings.query_cache_ttl_s)
    registry.register(CacheCollector(cache))

    def answer(q: Query):
        with open_warehouse(settings.warehouse_url, migrate=False) as wh:
            try:
                return cache.read(wh, q)
            except redis.RedisError as exc:   # the cache is an accelerator: serve uncached while Redis is away
                log.warning("query cache unavailable (%s): serving uncached", type(exc).__name__)
                return run(wh, q)

    def view(kind: str):
        async def handler(request: web.Request) -> web.Response:
            try:
                q = parse(request, kind, settings)
            except BadQuery as exc:
                return web.json_response({"error": str(exc)}, status=400)
            frame = await asyncio.to_thread(answer, q)
            if request.query.get("format") == "arrow":
                table = to_arrow(frame)
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, table.schema) as writer:
                    writer.write_table(table)
                return web.Response(body=sink.getvalue().to_pybytes(), content_type=ARROW_STREAM)
            body = frame.to_json(orient="split", index=False, date_format="iso", date_unit="us")
            return web.Response(text=body, content_type="application/json")
        return handler

    app.router.add_get("/bars", view("bars"))
    app.router.add_get("/ticks", view("ticks"))
