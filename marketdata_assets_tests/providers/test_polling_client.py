"""What a 1-second polling loop needs from the shared clients: a non-blocking budget check
that is neither a breaker failure nor retried, a per-call retry policy that does not sleep
past the interval, Twelve Data pairs without an exchange zone, Alpha Vantage months in
US/Eastern."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pandas as pd
import pytest

from marketdata_assets.errors import RateLimited
from marketdata_assets.sources.http import BudgetExhausted, RetryPolicy, call_policy
from marketdata_assets.sources.http.alphavantage import AlphaVantageProvider
from marketdata_assets.sources.http.circuit import BreakerState, CircuitBreaker
from marketdata_assets.sources.http.ratelimit import RateLimiter
from marketdata_assets.sources.http.twelvedata import TwelveDataProvider, parse_time_series
from marketdata_assets.sources.http.yahoo import YahooProvider

from .helpers import FakeClock, SleepRecorder, load_json, provider_on

START, END = datetime(2024, 11, 22, 15, 0, tzinfo=UTC), datetime(2024, 11, 22, 15, 5, tzinfo=UTC)
YAHOO_BODY = load_json("yahoo/chart-AAPL-2025-02-01-to-2025-02-02-includePrePost-false-interval-1m.json")


def _yahoo(clock: FakeClock, seen: list, *, limit: int = 1, threshold: int = 1, sleep=None, handler=None):
    body = YAHOO_BODY.get("response", {}).get("bodyJson", YAHOO_BODY)
    return provider_on(
        YahooProvider, handler or (lambda r: httpx.Response(200, json=body)), attempts=3, seen=seen,
        sleep=sleep, limiter=RateLimiter("yahoo", limit, 60.0, clock=clock, sleep=clock.sleep),
        breaker=CircuitBreaker("yahoo", threshold, 30.0, clock=clock),
    )


def test_limiter_refusal_is_not_a_breaker_failure_and_is_not_retried(clock):
    seen: list = []
    provider = _yahoo(clock, seen)
    provider.fetch_bars("AAPL", "1m", START, END)  # spends the only token

    with call_policy(RetryPolicy.for_interval(1.0)), pytest.raises(BudgetExhausted):
        provider.fetch_bars("AAPL", "1m", START, END)

    assert len(seen) == 1                      # nothing sent for the refused call, no retry
    assert provider.breaker.state is BreakerState.CLOSED
    assert provider.breaker.consecutive_failures == 0
    assert clock.sleeps == []                  # the check did not block


def test_budget_refusal_gives_the_half_open_trial_back(clock):
    seen: list = []
    provider = _yahoo(clock, seen, limit=1)
    provider.breaker.record_failure("boom")    # threshold 1: open
    clock.advance(61)                          # cooldown over, limiter window over
    provider.client.limiter.acquire()          # someone else spends the token

    with call_policy(RetryPolicy.for_interval(1.0)), pytest.raises(BudgetExhausted):
        provider.fetch_bars("AAPL", "1m", START, END)
    clock.advance(61)
    provider.fetch_bars("AAPL", "1m", START, END)  # the trial slot was given back: admitted

    assert provider.breaker.state is BreakerState.CLOSED
    assert len(seen) == 1


def test_try_acquire_never_waits_and_keeps_the_limit(clock):
    limiter = RateLimiter("p", 2, 10.0, clock=clock, sleep=clock.sleep)

    got = [limiter.try_acquire() for _ in range(3)]

    assert got == [True, True, False]
    assert limiter.remaining() == 0
    assert clock.sleeps == []


def test_retry_after_longer_than_the_interval_moves_on_without_sleeping(clock):
    seen: list = []
    sleeps = SleepRecorder()
    provider = _yahoo(clock, seen, limit=100, threshold=5, sleep=sleeps,
                      handler=lambda r: httpx.Response(429, text="Too Many Requests", headers={"Retry-After": "5"}))

    with call_policy(RetryPolicy.for_interval(1.0)), pytest.raises(RateLimited):
        provider.fetch_bars("AAPL", "1m", START, END)

    assert len(seen) == 1
    assert sleeps.waits == []


def test_batch_policy_still_honours_a_retry_after_within_its_cap(clock):
    seen: list = []
    sleeps = SleepRecorder()
    provider = _yahoo(clock, seen, limit=100, threshold=5, sleep=sleeps,
                      handler=lambda r: httpx.Response(429, text="Too Many Requests", headers={"Retry-After": "5"}))

    with pytest.raises(RateLimited):
        provider.fetch_bars("AAPL", "1m", START, END)

    assert len(seen) == 3 and sleeps.waits == [5.0, 5.0]


# Twelve Data's documented /time_series answer for a currency pair: no exchange zone, times in UTC.
FX_BODY = {
    "meta": {"symbol": "EUR/USD", "interval": "1min", "currency_base": "Euro", "currency_quote": "US Dollar",
             "type": "Physical Currency"},
    "values": [
        {"datetime": "2024-11-22 15:59:00", "open": "1.04180", "high": "1.04190", "low": "1.04170", "close": "1.04185"},
        {"datetime": "2024-11-22 15:58:00", "open": "1.04175", "high": "1.04182", "low": "1.04170", "close": "1.04180"},
    ],
    "status": "ok",
}


def test_twelvedata_currency_pair_without_exchange_zone_is_read_as_utc():
    bars = parse_time_series(FX_BODY, "1m", request="r")

    assert bars["ts"].tolist() == [pd.Timestamp("2024-11-22 15:58", tz="UTC"), pd.Timestamp("2024-11-22 15:59", tz="UTC")]
    assert bars["close"].tolist() == [1.0418, 1.04185]
    assert bars["volume"].isna().all()


def test_twelvedata_serves_a_pair_through_the_client():
    provider = provider_on(TwelveDataProvider, lambda r: httpx.Response(200, json=FX_BODY))

    bars = provider.fetch_bars("EUR/USD", "1m", datetime(2024, 11, 22, 15, 58, tzinfo=UTC),
                               datetime(2024, 11, 22, 16, 0, tzinfo=UTC))

    assert len(bars) == 2


def test_alphavantage_month_is_the_us_eastern_month_near_a_month_start():
    seen: list = []
    body = {"Meta Data": {"6. Time Zone": "US/Eastern"}, "Time Series (1min)": {}}
    provider = provider_on(AlphaVantageProvider, lambda r: httpx.Response(200, json=body), seen=seen)

    # 2024-12-01 01:00-03:00 UTC is 2024-11-30 20:00-22:00 in New York: November's file.
    provider.fetch_bars("AAPL", "1m", datetime(2024, 12, 1, 1, tzinfo=UTC), datetime(2024, 12, 1, 3, tzinfo=UTC))

    assert [r.url.params["month"] for r in seen] == ["2024-11"]


def test_alphavantage_latest_bars_of_a_polling_loop_use_the_compact_series():
    seen: list = []
    body = {"Meta Data": {"6. Time Zone": "US/Eastern"}, "Time Series (1min)": {}}
    provider = provider_on(AlphaVantageProvider, lambda r: httpx.Response(200, json=body), seen=seen)
    asof = datetime(2024, 11, 22, 15, 30, 10, tzinfo=UTC)

    with call_policy(RetryPolicy.for_interval(1.0), asof=asof.timestamp()):
        provider.fetch_bars("AAPL", "1m", datetime(2024, 11, 22, 15, 27, tzinfo=UTC),
                            datetime(2024, 11, 22, 15, 31, tzinfo=UTC))
        provider.fetch_bars("AAPL", "1m", datetime(2024, 11, 20, tzinfo=UTC), datetime(2024, 11, 21, tzinfo=UTC))

    assert seen[0].url.params["outputsize"] == "compact" and "month" not in seen[0].url.params
    assert seen[1].url.params["month"] == "2024-11"  # history still month by month
