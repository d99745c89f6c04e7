"""The live half of ``make demo``: the sidecar's provider loop for a minute, beside the rest.

``start_live_demo`` launches ``python -m marketdata_assets.demo_live`` in the background at
the start of the demo; ``LiveDemo.finish`` collects and prints its result at the end. The
child runs its own fake providers (live mode: a simulated clock from Friday 2024-11-22
15:29:30 UTC running at ``SPEED``× real time, so a minute of demo closes a few bars) and the
provider loop every second for AAPL, NAS100 and EURUSD into Redis under the prefix
``{MARKETDATA_REDIS_PREFIX}-demo-live``. Yahoo answers HTTP 429 from second 20 to 40: its
breaker opens, the next provider serves, and after the cooldown the loop goes back to Yahoo.
It checks that the closed 1m bars have no duplicate, no gap and no step across the switch,
and that no instrument was ever stale, and reports the cycle latency. Without Redis it says
the live loop was skipped and the demo goes on (it runs with no services).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

INSTRUMENTS = ("AAPL", "NAS100", "EURUSD")
SECONDS, SPEED = 60.0, 5.0
FAULT_FROM, FAULT_TO = 20.0, 40.0
START = datetime(2024, 11, 22, 15, 29, 30, tzinfo=UTC).timestamp()


class DemoClock:
    def __init__(self):
        self.t0 = time.monotonic()

    def time(self) -> float:
        return START + (time.monotonic() - self.t0) * SPEED

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()


def _redis_error(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as exc:
        return type(exc).__name__
    return None


async def _drive(loop, fake, clock: DemoClock) -> dict:
    served: dict[str, list] = {i: [] for i in INSTRUMENTS}
    max_fresh: dict[str, float] = dict.fromkeys(INSTRUMENTS, 0.0)
    stale = 0
    faulted = cleared = False
    while (elapsed := time.monotonic() - clock.t0) < SECONDS:
        if not faulted and elapsed >= FAULT_FROM:
            fake.set_fault("yahoo", "429")
            faulted = True
        if faulted and not cleared and elapsed >= FAULT_TO:
            fake.set_fault("yahoo", "ok")
            cleared = True
        started = time.monotonic()
        await loop.cycle()
        st = loop.status()
        for inst, s in st["instruments"].items():
            if s["provider"] and (not served[inst] or served[inst][-1][1] != s["provider"]):
                served[inst].append((round(elapsed, 1), s["provider"]))
            if s["freshness_s"] is not None and loop.loaded:
                max_fresh[inst] = max(max_fresh[inst], s["freshness_s"] / SPEED)  # in real seconds
            stale += bool(s["stale"])
        await asyncio.sleep(max(0.0, loop.interval_s - (time.monotonic() - started)))
    return {"served": served, "max_freshness_s": max_fresh, "stale_samples": stale}


def _check_bars(cache, start_minute: int) -> dict:
    from marketdata_assets.sidecar.provider_publish import src_key

    out = {}
    for inst in INSTRUMENTS:
        sources = {int(k): v.decode() for k, v in cache.redis.hgetall(src_key(cache.keys, inst)).items()
                   if k != b"forming"}
        bars = cache.bars_array(inst, "1m", 5000)
        ts = bars["ts"] // 1_000_000
        window = bars[ts >= start_minute]
        wts = window["ts"] // 1_000_000
        expected = set(range(start_minute, int(wts.max()) + 60, 60)) if len(wts) else set()
        missing = sorted(expected - set(wts.tolist()))
        yahoo_empty = [m for m in missing if (m // 60) % 97 == 13]  # minutes the fake Yahoo has no trade in
        steps = int(np.count_nonzero(window["open"][1:] != window["close"][:-1]))
        out[inst] = {"closed_bars": len(window), "duplicates": int(len(wts) - len(set(wts.tolist()))),
                     "gaps": len(missing) - len(yahoo_empty), "steps": steps,
                     "by": " ".join(f"{datetime.fromtimestamp(int(t) // 1_000_000, UTC):%H:%M}="
                                    f"{sources.get(int(t), '?')[:5]}" for t in window["ts"]),
                     "first": datetime.fromtimestamp(int(wts.min()), UTC).strftime("%H:%M") if len(wts) else "-",
                     "last": datetime.fromtimestamp(int(wts.max()), UTC).strftime("%H:%M") if len(wts) else "-"}
    return out


def run(out: Path) -> int:
    from marketdata_assets.settings import get_settings

    settings = get_settings()
    prefix = f"{settings.redis_prefix}-demo-live"
    why = _redis_error(settings.redis_url)
    if why is not None:
        out.write_text(json.dumps({"skipped": f"Redis is not reachable ({why})", "prefix": prefix}))
        return 0
    from marketdata_assets.demo_providers import DEMO_KEY
    from marketdata_assets.sidecar.providers import ProviderLoop
    from marketdata_assets.storage.live_reader import LiveCache
    from marketdata_assets.testkit.fakeproviders import FakeProviders

    clock = DemoClock()
    with FakeProviders(port=0, clock=clock.time) as fake:
        os.environ.update({**fake.settings_env(), **{f"{p}_API_KEY": DEMO_KEY for p in ("ALPHAVANTAGE", "TWELVEDATA", "POLYGON")},
                           "MARKETDATA_BREAKER_FAILURES": "3", "MARKETDATA_BREAKER_COOLDOWN_S": "10",
                           **{f"MARKETDATA_{p}_RATE_LIMIT": "1000" for p in
                              ("YAHOO", "ALPHAVANTAGE", "TWELVEDATA", "POLYGON")}})
        loop = ProviderLoop(INSTRUMENTS, get_settings(), redis_url=settings.redis_url, prefix=prefix,
                            interval_s=1.0, stale_after_s=10.0 * SPEED, clock=clock,
                            journal_root=settings.var_dir / "live_demo" / "journal")
        start_minute = int(clock.time() // 60 * 60)
        result = asyncio.run(_run_loop(loop, fake, clock))
    with LiveCache(settings.redis_url, prefix) as cache:
        result["bars"] = _check_bars(cache, start_minute)
    result["prefix"] = prefix
    out.write_text(json.dumps(result))
    return 0


async def _run_loop(loop, fake, clock) -> dict:
    try:
        result = await _drive(loop, fake, clock)
        result["cycle_ms"] = loop.status()["cycle_ms"]
        result["cycles"] = loop.cycles
        result["breakers"] = {k: v["state"] for k, v in loop.status()["breakers"].items()}
        return result
    finally:
        await loop.aclose()


class LiveDemo:
    def __init__(self, proc: subprocess.Popen | None, out: Path, log: Path):
        self.proc, self.out, self.log = proc, out, log

    def finish(self, timeout_s: float = 150.0) -> bool:
        """Wait for the live loop, print its report; False only when it ran and failed."""
        print("\nlive provider loop (sidecar, 1 s cycles, AAPL NAS100 EURUSD, Yahoo HTTP 429 from 20 s to 40 s):")
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            print(f"  FAILED: still running after {timeout_s:.0f} s (log: {self.log})")
            return False
        if code != 0 or not self.out.exists():
            print(f"  FAILED with exit code {code} (log: {self.log})")
            return False
        res = json.loads(self.out.read_text())
        if "skipped" in res:
            print(f"  SKIPPED: {res['skipped']}; the live loop needs Redis (the rest of the demo does not)")
            return True
        print(f"  simulated market time from 2024-11-22 15:29:30 UTC at {SPEED:g}x; Redis prefix {res['prefix']}")
        ok = res["stale_samples"] == 0
        for inst in INSTRUMENTS:
            b, served = res["bars"][inst], " -> ".join(f"{p} ({t:g} s)" for t, p in res["served"][inst])
            ok = ok and b["duplicates"] == 0 and b["gaps"] == 0 and b["steps"] == 0 and b["closed_bars"] > 0
            print(f"  {inst:7s} served by {served}; closed 1m bars {b['first']}..{b['last']}: {b['closed_bars']}, "
                  f"duplicates {b['duplicates']}, gaps {b['gaps']}, steps {b['steps']}; "
                  f"max freshness {res['max_freshness_s'][inst]:.1f} s")
            print(f"          closed 1m bars by provider: {b['by']}")
        q = res["cycle_ms"]
        print(f"  {res['cycles']} cycles; cycle latency p50 {q.get('p50', 0):.1f} ms, p95 {q.get('p95', 0):.1f} ms, "
              f"p99 {q.get('p99', 0):.1f} ms; breakers at the end: {res['breakers']}")
        print(f"  stale samples: {res['stale_samples']}  ->  {'OK' if ok else 'FAILED'}")
        return ok


def start_live_demo(var_dir: Path) -> LiveDemo:
    folder = Path(var_dir) / "live_demo"
    folder.mkdir(parents=True, exist_ok=True)
    out, log = folder / "result.json", folder / "loop.log"
    out.unlink(missing_ok=True)
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "marketdata_assets.demo_live", str(out)],
                                stdout=fh, stderr=subprocess.STDOUT)
    return LiveDemo(proc, out, log)


if __name__ == "__main__":
    import logging

    logging.basicConfig(level="WARNING", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(run(Path(sys.argv[1])))
