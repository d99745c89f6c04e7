"""Rate limiter: at most ``limit`` requests in any window, measured on our side with an
injected clock and on the fake server's side with real time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from marketdata_assets.errors import RateLimited
from marketdata_assets.sources.http.ratelimit import RateLimiter
from marketdata_assets.sources.http.registry import build_provider


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(sum(1 for u in times if t <= u < t + window) for t in times)


def test_burst_gets_limit_tokens_at_once_then_waits_for_the_oldest_to_return(clock):
    limiter = RateLimiter("unit", limit=3, window_s=10, clock=clock, sleep=clock.sleep, margin_s=0)

    granted = []
    for _ in range(7):
        limiter.acquire()
        granted.append(clock.now)

    assert granted == [1000, 1000, 1000, 1010, 1010, 1010, 1020]
    assert _max_in_window(granted, 10) == 3


def test_spaced_requests_never_wait(clock):
    limiter = RateLimiter("unit", limit=2, window_s=1, clock=clock, sleep=clock.sleep, margin_s=0)

    for _ in range(5):
        limiter.acquire()
        clock.advance(0.5)

    assert clock.sleeps == []


def test_max_wait_turns_a_long_queue_into_rate_limited(clock):
    limiter = RateLimiter("unit", limit=1, window_s=60, clock=clock, sleep=clock.sleep, margin_s=0)
    limiter.acquire()

    with pytest.raises(RateLimited) as caught:
        limiter.acquire(max_wait_s=5)

    assert caught.value.retry_after == pytest.approx(60)


def test_default_margin_holds_tokens_a_little_longer_than_the_window(clock):
    limiter = RateLimiter("unit", limit=1, window_s=60, clock=clock, sleep=clock.sleep)

    limiter.acquire()
    limiter.acquire()

    assert clock.sleeps == [pytest.approx(61.0)]


def test_invalid_limits_are_refused():
    with pytest.raises(ValueError):
        RateLimiter("unit", limit=0, window_s=1)


def test_under_a_threaded_burst_no_provider_gets_more_than_its_limit_per_window(fake, settings_for):
    settings = settings_for(
        MARKETDATA_YAHOO_RATE_LIMIT="3", MARKETDATA_YAHOO_RATE_WINDOW_S="1",
        MARKETDATA_POLYGON_RATE_LIMIT="2", MARKETDATA_POLYGON_RATE_WINDOW_S="1",
    )
    providers = {name: build_provider(name, settings) for name in ("yahoo", "polygon")}
    symbols = {"yahoo": "NQ=F", "polygon": "I:NDX"}
    start, end = datetime(2024, 11, 22, 14, tzinfo=UTC), datetime(2024, 11, 22, 14, 5, tzinfo=UTC)
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            for _ in range(2):
                providers[name].fetch_bars(symbols[name], "1m", start, end)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("yahoo", "polygon") for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert errors == []
    for name, limit in (("yahoo", 3), ("polygon", 2)):
        arrivals = [r["monotonic"] for r in fake.requests(name)]
        assert len(arrivals) == 6
        # measured where the provider counts, allowing 100 ms of transit jitter per request
        assert _max_in_window(arrivals, 1.0 - 0.1) <= limit
