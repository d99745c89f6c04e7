"""Circuit breaker: closed → open after N consecutive failures → half-open after the
cooldown with exactly one trial → closed on success / open again on failure."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from marketdata_assets.errors import CircuitOpen
from marketdata_assets.sources.http.circuit import BreakerState, CircuitBreaker
from marketdata_assets.sources.http.client import TransientError
from marketdata_assets.sources.http.registry import build_provider


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.before_call()
        breaker.record_failure("boom")


def test_opens_after_threshold_consecutive_failures_and_refuses_calls(clock):
    breaker = CircuitBreaker("unit-a", failure_threshold=5, cooldown_s=60, clock=clock)

    _fail(breaker, 4)
    assert breaker.state is BreakerState.CLOSED
    _fail(breaker, 1)

    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen, match="5 consecutive failures"):
        breaker.before_call()


def test_a_success_resets_the_consecutive_count(clock):
    breaker = CircuitBreaker("unit-b", failure_threshold=3, cooldown_s=60, clock=clock)

    _fail(breaker, 2)
    breaker.record_success()
    _fail(breaker, 2)

    assert breaker.state is BreakerState.CLOSED


def test_half_open_after_cooldown_admits_exactly_one_trial(clock):
    breaker = CircuitBreaker("unit-c", failure_threshold=1, cooldown_s=30, clock=clock)
    _fail(breaker, 1)

    clock.advance(29.9)
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.advance(0.1)
    breaker.before_call()  # the trial

    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpen, match="trial request is in flight"):
        breaker.before_call()


def test_trial_success_closes_and_trial_failure_reopens_for_a_new_cooldown(clock):
    breaker = CircuitBreaker("unit-d", failure_threshold=1, cooldown_s=30, clock=clock)
    _fail(breaker, 1)
    clock.advance(30)
    breaker.before_call()
    breaker.record_failure("still down")
    assert breaker.state is BreakerState.OPEN
    clock.advance(29)
    with pytest.raises(CircuitOpen):
        breaker.before_call()

    clock.advance(1)
    breaker.before_call()
    breaker.record_success()

    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()


def test_transitions_are_logged_and_exported_as_a_gauge(clock, caplog):
    caplog.set_level(logging.INFO, logger="marketdata.http")
    breaker = CircuitBreaker("unit-e", failure_threshold=2, cooldown_s=10, clock=clock)

    _fail(breaker, 2)
    gauge_open = REGISTRY.get_sample_value("marketdata_http_breaker_state", {"provider": "unit-e"})
    clock.advance(10)
    breaker.before_call()
    gauge_half = REGISTRY.get_sample_value("marketdata_http_breaker_state", {"provider": "unit-e"})
    breaker.record_success()

    assert (gauge_open, gauge_half) == (2.0, 1.0)
    assert REGISTRY.get_sample_value("marketdata_http_breaker_state", {"provider": "unit-e"}) == 0.0
    messages = [r.getMessage() for r in caplog.records if r.name == "marketdata.http"]
    assert any("CLOSED -> OPEN" in m for m in messages)
    assert any("OPEN -> HALF_OPEN" in m for m in messages)
    assert any("HALF_OPEN -> CLOSED" in m for m in messages)


def test_provider_breaker_opens_after_five_failed_requests_then_one_trial_closes_it(fake, settings_for, clock):
    settings = settings_for(MARKETDATA_BREAKER_FAILURES="5", MARKETDATA_BREAKER_COOLDOWN_S="30",
                            MARKETDATA_HTTP_MAX_ATTEMPTS="1")
    yahoo = build_provider("yahoo", settings, clock=clock, sleep=clock.sleep)
    start, end = datetime(2024, 11, 22, tzinfo=UTC), datetime(2024, 11, 22, 1, tzinfo=UTC)
    fake.set_fault("yahoo", "500")
    for _ in range(5):
        with pytest.raises(TransientError):
            yahoo.fetch_bars("AAPL", "1m", start, end)

    with pytest.raises(CircuitOpen):
        yahoo.fetch_bars("AAPL", "1m", start, end)
    sent_while_open = len(fake.requests("yahoo"))
    fake.set_fault("yahoo", "ok")
    clock.advance(30)
    bars = yahoo.fetch_bars("AAPL", "1m", start, end)

    assert sent_while_open == 5
    assert len(fake.requests("yahoo")) == 6
    assert not bars.empty
    assert yahoo.breaker.state is BreakerState.CLOSED
