"""``marketdata bench --only providers_loop``: the sidecar's provider collection cycle.

Ten instruments (the symbol map's eight and two extra equities) polled by
:class:`~marketdata_assets.sidecar.providers.ProviderLoop` against the local fake providers
(live mode, simulated market time on a trading Friday) into the real Redis: each cycle sends
one request per instrument through the shared clients (rate limits, breakers, fallback),
parses the answers, folds the bars and commits them in one transaction.

The limit beside it, measured in the same run against the same server: a *bare cycle*, the
same ten HTTP GETs (the URLs the loop just sent) issued from the same number of threads with
a plain ``httpx.Client``, nothing parsed, nothing written. Ratio = bare / ours (1.0 = the
loop costs nothing over the network round trips; higher is better). The seed system reports
50–80 ms per cycle (goal < 100 ms).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import numpy as np

from marketdata_assets.bench.core import Result

EXTRA = {"NVDA": {"asset_class": "equity", "providers": {"yahoo": "NVDA", "alphavantage": "NVDA",
                                                         "twelvedata": "NVDA", "polygon": "NVDA"}},
         "AMZN": {"asset_class": "equity", "providers": {"yahoo": "AMZN", "alphavantage": "AMZN",
                                                         "twelvedata": "AMZN", "polygon": "AMZN"}}}
START = datetime(2024, 11, 22, 15, 30, 5, tzinfo=UTC).timestamp()


class _Clock:
    def __init__(self):
        self.t0 = time.monotonic()

    def time(self) -> float:
        return START + time.monotonic() - self.t0

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()


def _symbols():
    import json
    from importlib import resources

    from marketdata_assets.model.symbol_map import SymbolMap

    doc = json.loads(resources.files("marketdata_assets").joinpath("reference/symbol_map.json").read_text("utf-8"))
    doc["instruments"].update(EXTRA)
    return SymbolMap.from_dict(doc)


def _q(values: list[float], q: float) -> float:
    return float(np.quantile(np.array(values), q)) * 1e3


def run(cycles: int = 200) -> list[Result]:
    import os

    import redis

    from marketdata_assets.settings import get_settings
    from marketdata_assets.sidecar.providers import ProviderLoop
    from marketdata_assets.testkit.fakeproviders import FakeProviders

    smap = _symbols()
    instruments = tuple(smap.generics)
    assert len(instruments) == 10, instruments
    settings = get_settings()
    prefix = f"bench-providers-{uuid.uuid4().hex[:8]}"
    clock = _Clock()
    with FakeProviders(port=0, clock=clock.time) as fake:
        saved = dict(os.environ)
        os.environ.update({**fake.settings_env(), "ALPHAVANTAGE_API_KEY": "bench", "TWELVEDATA_API_KEY": "bench",
                           "POLYGON_API_KEY": "bench",
                           **{f"MARKETDATA_{p}_RATE_LIMIT": "100000" for p in
                              ("YAHOO", "ALPHAVANTAGE", "TWELVEDATA", "POLYGON")}})
        try:
            loop = ProviderLoop(instruments, get_settings(), redis_url=settings.redis_url, prefix=prefix,
                                interval_s=1.0, bars_kept=500, clock=clock, symbols=smap,
                                journal_root=settings.var_dir / "bench" / "work" / "journal")
        finally:
            os.environ.clear()
            os.environ.update(saved)
        ours, served = asyncio.run(_loop_cycles(loop, cycles))
        sent = fake.requests("yahoo")[-len(instruments):]
        bare = _bare_cycles(fake.url, sent, cycles, loop.pool._max_workers)
        single = _bare_cycles(fake.url, sent[:1], cycles, 1)
    client = redis.Redis.from_url(settings.redis_url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()
    goal = "p50 < 100 ms (seed 50-80 ms)"
    detail = {"instruments": list(instruments), "cycles": len(ours), "served_by": served,
              "bare_single_request_p50_ms": round(_q(single, 0.5), 3)}
    return [
        Result("provider_loop_cycle_p50_10_instruments", round(_q(ours, 0.5), 3), "ms", "bare_http_cycle_p50",
               round(_q(bare, 0.5), 3), round(_q(bare, 0.5) / _q(ours, 0.5), 3), goal, detail),
        Result("provider_loop_cycle_p99_10_instruments", round(_q(ours, 0.99), 3), "ms", "bare_http_cycle_p99",
               round(_q(bare, 0.99), 3), round(_q(bare, 0.99) / _q(ours, 0.99), 3), "p99 < 100 ms"),
    ]


async def _loop_cycles(loop, cycles: int) -> tuple[list[float], list[str]]:
    try:
        await loop.cycle()  # backfill
        out = []
        for _ in range(cycles):
            started = time.perf_counter()
            await loop.cycle()
            out.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)
        served = sorted({i["provider"] or "-" for i in loop.status()["instruments"].values()})
        return out, served
    finally:
        await loop.aclose()


def _bare_cycles(base: str, sent: list[dict], cycles: int, workers: int) -> list[float]:
    urls = [(f"{base}/{r['provider']}{r['path']}", r["query"]) for r in sent]
    out = []
    with httpx.Client(timeout=10.0) as http, ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in range(cycles):
            started = time.perf_counter()
            for resp in pool.map(lambda u: http.get(u[0], params=u[1]), urls):
                resp.read()
            out.append(time.perf_counter() - started)
            time.sleep(0.02)
    return out
