"""Prometheus metrics of the provider layer, defined once per process.

They live in the default registry so the sidecar's ``/metrics`` and any Dagster-side
exporter see them without wiring. Defining metrics is not configuration: nothing here
reads the environment.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

REQUESTS = Counter(
    "marketdata_http_requests",
    "HTTP requests sent to data providers, by provider and outcome "
    "(ok, no_data, rate_limited, server_error, timeout, transport_error, malformed, auth, "
    "client_error, error).",
    ["provider", "outcome"],
)

BREAKER_STATE = Gauge(
    "marketdata_http_breaker_state",
    "Circuit breaker state per provider: 0 closed, 1 half-open, 2 open.",
    ["provider"],
)

RATE_LIMIT_WAIT = Counter(
    "marketdata_http_rate_limit_wait_seconds",
    "Seconds spent waiting for the local rate limiter before sending a request.",
    ["provider"],
)

CIRCUIT_REJECTED = Counter(
    "marketdata_http_circuit_rejected",
    "Calls refused without a request because the provider's circuit was open.",
    ["provider"],
)
