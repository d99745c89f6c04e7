"""ProjectX hub benchmarks (``marketdata bench --only projectx``), each beside a limit
measured in the same run:

- ``projectx_hub_to_redis_latency_p50/p99``: from the fake hub sending a trade (stamped
  with the wall clock as it is sent, 1 ms send loop) to the trade being readable in Redis
  (a blocked ``XREAD`` wakes up), through the sidecar subprocess with ``--projectx`` (pysignalr
  → hub journal line → decoder → tick feed → tail → Redis), beside the ``.scid`` path's append → Redis latency
  of the same sidecar (``bench.sidecar``), at the same tick rate.
- ``projectx_hub_sustained_ticks_per_s``: trades per second the sidecar journals and commits
  to Redis while the hub pushes as fast as it can, beside a bare pysignalr client that only
  counts what it receives from the same hub (the protocol's own ceiling here).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager

import numpy as np

from marketdata_assets.bench.core import Result
from marketdata_assets.settings import get_settings

INSTRUMENT, CONTRACT = "ESZ24", "CON.F.US.EP.Z24"
WARMUP_S = 2.0


def _sidecar(gateway_url: str, prefix: str, journal: str, url: str) -> subprocess.Popen:
    env = {**os.environ, "MARKETDATA_PROJECTX_API_URL": gateway_url,
           "MARKETDATA_PROJECTX_HUB_URL": f"{gateway_url}/hubs/market", "MARKETDATA_PROJECTX_USERNAME": "bench",
           "MARKETDATA_PROJECTX_API_KEY": "bench-key", "MARKETDATA_JOURNAL_DIR": journal,
           "MARKETDATA_REDIS_URL": url, "MARKETDATA_REDIS_PREFIX": prefix, "MARKETDATA_SIDECAR_PORT": "0",
           "MARKETDATA_SIDECAR_STREAM_MAXLEN": "10000000"}
    return subprocess.Popen([sys.executable, "-m", "marketdata_assets.sidecar", "--projectx", INSTRUMENT,
                             "--log-level", "WARNING"], env=env)


@contextmanager
def _gateway(rate: float):
    """The fake gateway in its own process (as the ``.scid`` writer is), pushing ``rate`` trades/s."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "marketdata_assets.testkit.fakegateway", "--port", str(port),
                             "--load-rate", str(rate), "--tick-ms", "1", "--log-level", "WARNING"])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/_control/health")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def _with_hub(rate: float, body):
    """Run ``body(prefix, url, client)`` with the sidecar fed by a hub pushing ``rate`` trades/s."""
    from marketdata_assets.bench.sidecar import _drop, _redis

    url = get_settings().redis_url
    prefix = f"bench-px-{uuid.uuid4().hex[:8]}"
    client = _redis(url)
    with _gateway(rate) as gateway_url, tempfile.TemporaryDirectory() as journal:
        proc = _sidecar(gateway_url, prefix, journal, url)
        try:
            return body(prefix, url, client)
        finally:
            proc.terminate()
            proc.wait(30)
            _drop(client, prefix)
            client.close()


def hub_latency(rate: float, seconds: float) -> np.ndarray:
    from marketdata_assets.bench.sidecar import _observe

    warmup = int(rate * WARMUP_S)

    def body(prefix, url, client):
        result: list[int] = []
        observer = threading.Thread(target=lambda: result.extend(
            _observe(url, f"{prefix}:ticks:{INSTRUMENT}", warmup + int(rate * seconds), False, seconds + 30)))
        observer.start()
        observer.join()
        return result

    lat = np.asarray(_with_hub(rate, body), dtype=np.float64) / 1000.0
    return lat[warmup:]  # start-up (login, contract lookup, the first restore) is not the steady state


def hub_sustained(seconds: float) -> float:
    def body(prefix, url, client):
        key = f"{prefix}:ticks:{INSTRUMENT}"
        deadline = time.monotonic() + 30
        while client.xlen(key) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        n0, t0 = client.xlen(key), time.monotonic()
        time.sleep(seconds)
        return (client.xlen(key) - n0) / (time.monotonic() - t0)

    return _with_hub(1_000_000.0, body)


def bare_client_rate(seconds: float) -> float:
    """Trades/s a pysignalr client that only counts receives from the same hub load."""
    import httpx
    from pysignalr.client import SignalRClient

    from marketdata_assets.sources.projectx.hub import hub_url, quiet_signalr_logs

    quiet_signalr_logs()
    with _gateway(1_000_000.0) as gateway_url:
        token = httpx.post(f"{gateway_url}/api/Auth/loginKey", json={"userName": "b", "apiKey": "k"}).json()["token"]
        count = [0]

        async def main() -> float:
            client = SignalRClient(hub_url(f"{gateway_url}/hubs/market", token))

            async def on_open():
                await client.send("SubscribeContractTrades", [CONTRACT])

            async def on_trade(args):
                count[0] += len(args[1]) if isinstance(args[1], list) else 1

            client.on_open(on_open)
            client.on("GatewayTrade", on_trade)
            task = asyncio.create_task(client.run())
            while count[0] == 0:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            n0, t0 = count[0], time.monotonic()
            await asyncio.sleep(seconds)
            rate = (count[0] - n0) / (time.monotonic() - t0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return rate

        return asyncio.run(main())


def run(scale: float = 1.0) -> list[Result]:
    from marketdata_assets.bench.sidecar import _latency

    rate, seconds = 2_000.0, max(1.0, 5.0 * scale)
    hub = hub_latency(rate, seconds)
    scid = _latency("sidecar", rate, seconds)
    out = []
    for q in (50, 99):
        ours, limit = float(np.percentile(hub, q)), float(np.percentile(scid, q))
        out.append(Result(f"projectx_hub_to_redis_latency_p{q}", round(ours, 4), "ms",
                          f"scid_append_to_redis_latency_p{q}", round(limit, 4), round(limit / ours, 3)))
    window = max(1.0, 3.0 * scale)
    ingest, bare = hub_sustained(window), bare_client_rate(window)
    out.append(Result("projectx_hub_sustained_ticks_per_s", round(ingest, 1), "ticks/s",
                      "bare_pysignalr_client_receive_ticks_per_s", round(bare, 1), round(ingest / bare, 3)))
    return out


if __name__ == "__main__":
    for r in run(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0):
        print(r)
