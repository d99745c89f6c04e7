"""``/health`` and gauges of the provider loop: freshness, serving provider, breakers, latency.

Per instrument: ``freshness_s`` (seconds since a provider last served it, on the loop's
clock), ``stale`` (only while its market is open — :mod:`marketdata_assets.model.sessions` —
and not served for more than ``MARKETDATA_STALE_AFTER_S``; a closed market is never stale),
``market_open``, ``provider``, ``note`` (why the last cycle did not serve it), ``bars``,
``corrections``, ``fallbacks``. Per provider: breaker state and consecutive failures. Cycle
latency p50/p95/p99 over the last 1000 cycles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from marketdata_assets.sidecar.providers import ProviderLoop


def market_open(feed, at: float) -> bool:
    return bool(feed.market.in_session(np.array([int(at * 1e6)], np.int64))[0])


def quantiles(latencies) -> dict[str, float]:
    if not latencies:
        return {}
    values = np.array(latencies)
    return {f"p{int(q * 100)}": float(np.quantile(values, q)) for q in (0.5, 0.95, 0.99)}


def status(loop: ProviderLoop) -> dict:
    now = loop.clock.time()
    instruments = {}
    for inst, feed in loop.feeds.items():
        fresh = None if feed.served_at is None else round(now - feed.served_at, 3)
        is_open = market_open(feed, now)
        instruments[inst] = {
            "freshness_s": fresh, "stale": is_open and (fresh is None or fresh > loop.stale_after_s),
            "market_open": is_open, "provider": feed.provider, "note": feed.note or None,
            "bars": len(feed.bars.kept), "corrections": feed.bars.corrections, "fallbacks": feed.fallbacks,
        }
    breakers = {}
    for p in loop.chain:
        b = p.breaker
        breakers[p.name] = ({"state": b.state.name.lower(), "consecutive_failures": b.consecutive_failures}
                            if b is not None else {"state": "none"})
    return {"interval_s": loop.interval_s, "cycles": loop.cycles, "loaded": loop.loaded,
            "redis_error": loop.redis_error,
            "cycle_ms": {k: round(v * 1e3, 3) for k, v in quantiles(loop.latencies).items()},
            "instruments": instruments, "breakers": breakers}


def is_ok(loop: ProviderLoop) -> bool:
    st = status(loop)
    return loop.redis_error is None and loop.loaded and not any(i["stale"] for i in st["instruments"].values())


def export(loop: ProviderLoop) -> None:
    """Freshness and breaker gauges after each cycle."""
    now = loop.clock.time()
    for inst, feed in loop.feeds.items():
        if feed.served_at is not None:
            loop.metrics.freshness.labels(inst).set(now - feed.served_at)
    for p in loop.chain:
        if p.breaker is not None:
            loop.metrics.breaker.labels(p.name).set(p.breaker.state.value)


def combined_status(scid_status, loop: ProviderLoop):
    """``/health`` of a sidecar with the provider loop: the file part (if it tails files) and
    ``providers`` (freshness, serving provider, breakers); 200 only when both are fine."""

    def status() -> tuple[bool, dict]:
        ok, body = scid_status() if scid_status is not None else (True, {"status": "ok"})
        body = dict(body)
        body["providers"] = loop.status()
        ok = ok and loop.ok
        body["status"] = "ok" if ok else "degraded"
        return ok, body

    return status
