"""User-visible live latency: ``.scid`` append → a ``/ws`` client holding the updated bar.

The sidecar runs as its own process (HTTP face on 127.0.0.1, a token from the environment);
a writer process appends tick records at 10k ticks/s, each stamped with the wall clock when
it is written (``bench.sidecar.write``). In this process, one WebSocket client subscribed to
the instrument's ``forming`` events (the 1m bar after every batch, with ``last_ts_us``) and,
in the same run, the append→Redis observer of ``bench.sidecar`` on the tick stream.

A tick's ``/ws`` latency is the arrival of the first ``forming`` 1m bar whose ``last_ts_us``
is at or after the tick's time, minus that time: when the client could first draw a bar
that includes it. Every tick counts, the first 10 % being warm-up, as in the Redis figure.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from marketdata_assets.bench.core import Result

INSTRUMENT = "ESH24"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _client(port: int, token: str, ready: Path, stop: Path, out: Path) -> None:
    """The WebSocket client (its own process: no GIL shared with the Redis observer). Writes
    ``ready`` once subscribed, stops when ``stop`` exists, then writes ``(last_ts_us,
    arrival_us)`` pairs to ``out``."""
    import aiohttp

    seen: list[tuple[int, int]] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(300):   # until the sidecar listens
            try:
                ws = await session.ws_connect(f"http://127.0.0.1:{port}/ws",
                                              headers={"Authorization": f"Bearer {token}"})
                break
            except aiohttp.ClientConnectorError:
                await asyncio.sleep(0.05)
        else:
            raise RuntimeError(f"sidecar /ws on port {port} never answered")
        await ws.send_json({"op": "subscribe", "instruments": [INSTRUMENT], "events": ["forming"]})
        while not stop.exists():
            try:
                msg = await ws.receive(timeout=0.5)
            except TimeoutError:
                continue
            now = time.time_ns() // 1000
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            body = json.loads(msg.data)
            if body["type"] == "subscribed":
                ready.touch()
            elif body["type"] == "forming" and body["timeframe"] == "1m" and body["last_ts_us"] is not None:
                seen.append((body["last_ts_us"], now))
        await ws.close()
    out.write_text(json.dumps(seen))


def _tick_latencies(path: Path, seen: list[tuple[int, int]]) -> np.ndarray:
    """Per tick of the file (ms): first arrival of a bar including it, minus the tick's time."""
    from marketdata_assets.sources.sierra.scid import SC_EPOCH_US

    lat = covering_latencies(np.sort(_record_times(path, SC_EPOCH_US)), seen)
    return lat[len(lat) // 10:]


def covering_latencies(ticks: np.ndarray, seen: list[tuple[int, int]]) -> np.ndarray:
    """Per tick time (µs, ascending): the earliest arrival of a message whose ``last_ts_us``
    covers it, minus the tick time, in ms; ticks no message covers are left out."""
    if not seen:
        return np.empty(0)
    covered = np.array([s[0] for s in seen], dtype=np.int64)
    arrived = np.array([s[1] for s in seen], dtype=np.int64)
    covered = np.maximum.accumulate(covered)
    arrived = np.minimum.accumulate(arrived[::-1])[::-1]   # a later message can't show it earlier
    idx = np.searchsorted(covered, ticks, side="left")
    ok = idx < len(covered)
    return (arrived[idx[ok]] - ticks[ok]) / 1000.0


def _record_times(path: Path, sc_epoch_us: int) -> np.ndarray:
    from marketdata_assets.sources.sierra.scid import RECORD_DTYPE

    data = np.fromfile(path, dtype=np.uint8)
    header = int(np.frombuffer(data[4:8].tobytes(), "<u4")[0])
    n = (len(data) - header) // RECORD_DTYPE.itemsize
    rec = np.frombuffer(data[header:header + n * RECORD_DTYPE.itemsize].tobytes(), RECORD_DTYPE)
    return rec["dt"].astype(np.int64) - sc_epoch_us


def _run(rate: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    from marketdata_assets.bench import sidecar as sidecar_bench
    from marketdata_assets.settings import get_settings
    from marketdata_assets.sources.sierra.scid_writer import header_bytes

    url = get_settings().redis_url
    prefix, token, port = f"bench-{uuid.uuid4().hex[:8]}", secrets.token_hex(16), _free_port()
    client = sidecar_bench._redis(url)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{INSTRUMENT}.scid"
        path.write_bytes(header_bytes())
        env = {**os.environ, "MARKETDATA_REDIS_URL": url, "MARKETDATA_SIDECAR_STREAM_MAXLEN": "1000000",
               "MARKETDATA_SIDECAR_TOKEN": token}
        proc = subprocess.Popen([sys.executable, "-m", "marketdata_assets.sidecar", "--data-dir", tmp,
                                 "--prefix", prefix, "--port", str(port), "--log-level", "WARNING"], env=env)
        redis_lat: list[int] = []
        ready, stop, out = Path(tmp, "ready"), Path(tmp, "stop"), Path(tmp, "seen.json")
        ws_proc = subprocess.Popen([sys.executable, "-m", "marketdata_assets.bench.live_ws", str(port),
                                    str(ready), str(stop), str(out)], env=env)   # the token: environment only
        try:
            deadline = time.monotonic() + 30
            while not (ready.exists() and client.exists(f"{prefix}:heartbeat")) and time.monotonic() < deadline:
                time.sleep(0.02)
            if not ready.exists():
                raise RuntimeError("the /ws client did not get its subscription")
            expected = int(rate * seconds)
            observer = threading.Thread(target=lambda: redis_lat.extend(sidecar_bench._observe(
                url, f"{prefix}:ticks:{INSTRUMENT}", expected, False, seconds + 30)))
            observer.start()
            subprocess.run([sys.executable, "-m", "marketdata_assets.bench.sidecar", "write", str(path),
                            str(rate), str(seconds)], check=True, env=env)
            observer.join()
            time.sleep(0.2)   # the last bars in flight
            stop.touch()
            ws_proc.wait(30)
            ws = _tick_latencies(path, [tuple(x) for x in json.loads(out.read_text())])
        finally:
            stop.touch()
            if ws_proc.poll() is None:
                ws_proc.kill()
                ws_proc.wait()
            proc.terminate()
            proc.wait(30)
            sidecar_bench._drop(client, prefix)
            client.close()
    red = np.asarray(redis_lat, dtype=np.float64) / 1000.0
    return ws, red[len(red) // 10:]


def bench_ws_latency(rate: float = 10_000.0, seconds: float = 5.0, rounds: int = 2) -> list[Result]:
    """p50 and p99 of append → ``/ws`` bar beside append → Redis, pooled over ``rounds`` runs."""
    ws, red = zip(*(_run(rate, seconds) for _ in range(rounds)), strict=True)
    ws, red = np.concatenate(ws), np.concatenate(red)
    out = []
    for q in (50, 99):
        ours, limit = float(np.percentile(ws, q)), float(np.percentile(red, q))
        out.append(Result(f"scid append to /ws forming bar latency p{q} ({rate:,.0f} ticks/s)", round(ours, 3), "ms",
                          f"scid append to Redis latency p{q}, same run", round(limit, 3), round(limit / ours, 3),
                          "p99 <= 2 ms" if q == 99 else "",
                          detail={"ticks_ws": int(len(ws)), "ticks_redis": int(len(red))}))
    return out


if __name__ == "__main__":   # the client process: port ready stop out; the token from the environment
    asyncio.run(_client(int(sys.argv[1]), os.environ["MARKETDATA_SIDECAR_TOKEN"], Path(sys.argv[2]),
                        Path(sys.argv[3]), Path(sys.argv[4])))
