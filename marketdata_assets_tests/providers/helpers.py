"""Helpers of the provider tests: recorded bodies, fake keys, deterministic clocks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from marketdata_assets.testkit.recorded import load_recorded

FAKE_KEYS = {
    "ALPHAVANTAGE_API_KEY": "SECRET-KEY-123-AV",
    "TWELVEDATA_API_KEY": "SECRET-KEY-123-TD",
    "POLYGON_API_KEY": "SECRET-KEY-123-PG",
    "COINMARKETCAP_API_KEY": "SECRET-KEY-123-CMC",
}


def load_json(relpath: str) -> Any:
    """A recorded response, from the test kit's package data (stored once)."""
    return load_recorded(relpath)


class FakeClock:
    """Monotonic clock whose ``sleep`` advances time instantly and records the waits."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SleepRecorder:
    """Retry ``sleep`` that records waits without waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def mock_transport(handler: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request] | None = None):
    """An httpx MockTransport that also keeps the requests it received (as sent on the wire)."""

    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return handler(request)

    return httpx.MockTransport(handle)


def json_response(status: int, body: Any, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=body, headers=headers)


def provider_on(
    cls,
    handler: Callable[[httpx.Request], httpx.Response],
    *,
    key: str = "SECRET-KEY-123",
    attempts: int = 1,
    sleep: Callable[[float], None] | None = None,
    seen: list[httpx.Request] | None = None,
    **kwargs: Any,
):
    """A provider client whose HTTP goes to ``handler`` (recorded bodies, error shapes)."""
    from marketdata_assets.sources.http.retry import RetryPolicy

    return cls.create(
        "https://provider.test",
        key if cls.requires_key() else None,
        timeout_s=1.0,
        policy=RetryPolicy(max_attempts=attempts, backoff_initial_s=0.01, jitter_s=0.0),
        transport=mock_transport(handler, seen),
        sleep=sleep or SleepRecorder(),
        **kwargs,
    )
