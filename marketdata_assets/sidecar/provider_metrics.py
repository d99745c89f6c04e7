"""Prometheus metrics of the provider loop, in the sidecar's registry (``/metrics``).

- ``marketdata_sidecar_provider_cycle_seconds`` histogram of the collection cycle latency
  (fetch of every instrument, folding, the Redis commit), and
  ``marketdata_sidecar_provider_cycle_quantile_seconds{quantile="0.5|0.95|0.99"}`` over the
  last 1000 cycles;
- ``marketdata_sidecar_provider_requests{provider,outcome}``: each provider consulted per
  instrument and cycle, by outcome (``served``, ``empty``, ``budget`` = its local budget was
  spent and nothing was sent, ``rate_limited`` = the provider said 429/throttled,
  ``circuit_open``, ``failed``, ``no_symbol``, …);
- ``marketdata_sidecar_provider_fallbacks{instrument,provider}``: cycles served by a
  provider other than the first one consulted;
- ``marketdata_sidecar_provider_rate_limit_waits{provider,kind}``: times a provider was
  passed over for its limit (``budget`` local, ``rate_limited`` remote) instead of waiting;
- ``marketdata_sidecar_provider_corrections{instrument}``, ``_rebuilds``, ``_redis_errors``,
  ``_freshness_seconds{instrument}``, ``_breaker_state{provider}`` (0 closed, 1 half-open,
  2 open).
"""

from __future__ import annotations

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LoopMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        r = self.registry = registry or CollectorRegistry()
        n = "marketdata_sidecar_provider_"
        self.cycle = Histogram(n + "cycle_seconds", "Provider collection cycle latency", buckets=_BUCKETS, registry=r)
        self.cycle_q = Gauge(n + "cycle_quantile_seconds", "Cycle latency quantiles over the last 1000 cycles",
                             ["quantile"], registry=r)
        self.requests = Counter(n + "requests", "Providers consulted, by outcome", ["provider", "outcome"], registry=r)
        self.fallbacks = Counter(n + "fallbacks", "Cycles served past the first provider", ["instrument", "provider"],
                                 registry=r)
        self.rate_limit_waits = Counter(n + "rate_limit_waits", "Providers passed over for their rate limit",
                                        ["provider", "kind"], registry=r)
        self.corrections = Counter(n + "corrections", "Late corrections of closed bars applied", ["instrument"],
                                   registry=r)
        self.rebuilds = Counter(n + "rebuilds", "Instruments rewritten after Redis lost them", registry=r)
        self.redis_errors = Counter(n + "redis_errors", "Cycles that could not reach Redis", registry=r)
        self.freshness = Gauge(n + "freshness_seconds", "Seconds since a provider last served", ["instrument"],
                               registry=r)
        self.breaker = Gauge(n + "breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open", ["provider"],
                             registry=r)

    def observe_cycle(self, seconds: float, recent) -> None:
        self.cycle.observe(seconds)
        values = np.fromiter(recent, float)
        for q in (0.5, 0.95, 0.99):
            self.cycle_q.labels(str(q)).set(float(np.quantile(values, q)))
