"""Retry policy of the shared client: what is retried, how long it waits (Retry-After
first, else exponential backoff), and what is not retried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import REGISTRY

from marketdata_assets.errors import RateLimited
from marketdata_assets.sources.http.client import ProviderError, TransientError
from marketdata_assets.sources.http.registry import build_provider
from marketdata_assets.sources.http.retry import RetryPolicy, parse_retry_after
from marketdata_assets.sources.http.yahoo import YahooProvider

from .helpers import SleepRecorder, provider_on

START, END = datetime(2024, 11, 22, 14, tzinfo=UTC), datetime(2024, 11, 22, 15, tzinfo=UTC)


def _requests_counted(provider: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("marketdata_http_requests_total", {"provider": provider, "outcome": outcome}) or 0.0


def test_retries_wait_what_retry_after_asks_then_succeed(fake, settings_for):
    limited_before, ok_before = _requests_counted("yahoo", "rate_limited"), _requests_counted("yahoo", "ok")
    sleeps = SleepRecorder()
    yahoo = build_provider("yahoo", settings_for(MARKETDATA_HTTP_MAX_ATTEMPTS="4"), sleep=sleeps)
    fake.set_fault("yahoo", "429", retry_after=2, count=2)

    bars = yahoo.fetch_bars("NQ=F", "1m", START, END)

    assert sleeps.waits == [2.0, 2.0]
    assert [r["status"] for r in fake.requests("yahoo")] == [429, 429, 200]
    assert not bars.empty
    assert _requests_counted("yahoo", "rate_limited") - limited_before == 2
    assert _requests_counted("yahoo", "ok") - ok_before == 1


def test_server_error_retry_after_is_honoured_too(fake, settings_for):
    sleeps = SleepRecorder()
    polygon = build_provider("polygon", settings_for(), sleep=sleeps)
    fake.set_fault("polygon", "500", retry_after=1.5, count=1)

    polygon.fetch_bars("I:NDX", "1m", START, END)

    assert sleeps.waits == [1.5]


def test_retry_after_beyond_the_cap_stops_at_once_instead_of_waiting(fake, settings_for):
    sleeps = SleepRecorder()
    yahoo = build_provider("yahoo", settings_for(), sleep=sleeps,
                           policy=RetryPolicy(max_attempts=4, retry_after_cap_s=5))
    fake.set_fault("yahoo", "429", retry_after=3600)

    with pytest.raises(RateLimited) as caught:
        yahoo.fetch_bars("NQ=F", "1m", START, END)

    assert caught.value.retry_after == 3600
    assert sleeps.waits == [] and len(fake.requests("yahoo")) == 1


def test_without_retry_after_waits_grow_exponentially_until_attempts_run_out(fake, settings_for):
    sleeps = SleepRecorder()
    twelvedata = build_provider("twelvedata", settings_for(), sleep=sleeps,
                                policy=RetryPolicy(max_attempts=4, backoff_initial_s=0.5, jitter_s=0.1))
    fake.set_fault("twelvedata", "500")

    with pytest.raises(TransientError) as caught:
        twelvedata.fetch_bars("NAS100", "1m", START, END)

    assert caught.value.kind == "server_error"
    assert len(sleeps.waits) == 3 and len(fake.requests("twelvedata")) == 4
    for wait, base in zip(sleeps.waits, (0.5, 1.0, 2.0), strict=True):
        assert base <= wait <= base + 0.1


def test_timeouts_are_retried_and_reported_as_timeouts(fake, settings_for):
    sleeps = SleepRecorder()
    alphavantage = build_provider("alphavantage", settings_for(), timeout_s=0.2, sleep=sleeps,
                                  policy=RetryPolicy(max_attempts=2, jitter_s=0))
    fake.set_fault("alphavantage", "timeout", delay_s=3)

    with pytest.raises(TransientError, match="timeout after 0.2 s") as caught:
        alphavantage.fetch_bars("IBM", "1d", START, END)

    assert caught.value.kind == "timeout"
    assert len(fake.requests("alphavantage")) == 2


def test_malformed_json_is_retried_once_then_served(fake, settings_for):
    sleeps = SleepRecorder()
    polygon = build_provider("polygon", settings_for(), sleep=sleeps)
    fake.set_fault("polygon", "malformed", count=1)

    bars = polygon.fetch_bars("I:NDX", "1m", START, END)

    assert len(sleeps.waits) == 1 and len(bars) == 60


def test_client_errors_are_not_retried():
    calls = []
    provider = provider_on(YahooProvider, lambda r: calls.append(r) or httpx.Response(400, text="bad"), attempts=4)

    with pytest.raises(ProviderError, match="HTTP 400"):
        provider.fetch_bars("AAPL", "1d", START, END)

    assert len(calls) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), ("0.5", 0.5), (None, None), ("soon", None), ("-4", 0.0)],
)
def test_retry_after_in_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_retry_after_as_http_date():
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = (now + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")

    assert parse_retry_after(later, now=now.timestamp) == pytest.approx(90)
