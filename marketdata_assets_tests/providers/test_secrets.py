"""API keys never reach a log line, an exception text or traceback, a provenance
string or a repr, while still being sent to the provider."""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime

import httpx
import pytest

from marketdata_assets.model.symbol_map import load_symbol_map
from marketdata_assets.sources.http.fallback import AllProvidersFailed, fetch_with_fallback
from marketdata_assets.sources.http.polygon import PolygonProvider
from marketdata_assets.sources.http.registry import build_providers
from marketdata_assets.sources.http.retry import RetryPolicy

from .helpers import FAKE_KEYS, SleepRecorder, provider_on

START, END = datetime(2024, 11, 22, 14, tzinfo=UTC), datetime(2024, 11, 22, 14, 10, tzinfo=UTC)
DAY_START, DAY_END = datetime(2024, 11, 18, tzinfo=UTC), datetime(2024, 11, 23, tzinfo=UTC)
KEYS = list(FAKE_KEYS.values())


def _leaks(text: str) -> list[str]:
    return [key for key in (*KEYS, "SECRET-KEY-123") if key in text]


def test_no_key_in_logs_errors_or_provenance_across_successes_and_failures(fake, settings_for, caplog):
    caplog.set_level(logging.DEBUG)
    settings = settings_for(MARKETDATA_PROVIDER_PRIORITY="alphavantage,twelvedata,polygon,coinmarketcap")
    symbols = load_symbol_map().provider_symbols("NAS100")
    healthy = build_providers(settings, timeout_s=10)
    served = [fetch_with_fallback(healthy[1:], symbols, "1m", START, END)[0]]
    for provider in healthy[:-1]:
        served.append(provider.fetch_bars(symbols[provider.name], "1d", DAY_START, DAY_END))
    meta = healthy[-1].fetch_metadata("BTC")
    providers = build_providers(settings, timeout_s=0.2, sleep=SleepRecorder(),
                                policy=RetryPolicy(max_attempts=2, jitter_s=0))
    texts = []
    fake.set_fault("alphavantage", "timeout", delay_s=2)
    fake.set_fault("twelvedata", "401")
    fake.set_fault("polygon", "429", retry_after=0)
    fake.set_fault("coinmarketcap", "500")
    with pytest.raises(AllProvidersFailed) as caught:
        fetch_with_fallback(providers, {**symbols, "coinmarketcap": "BTC"}, "1m", START, END)
    with pytest.raises(Exception) as meta_error:
        providers[-1].fetch_metadata("BTC")
    texts += [str(caught.value), "".join(traceback.format_exception(caught.value)),
              "".join(traceback.format_exception(meta_error.value)), repr(providers)]
    texts += [" ".join(frame["request"]) for frame in served]
    texts.append(str(fake.requests()))

    assert all(not frame.empty for frame in served) and meta["name"] == "Bitcoin"
    assert "HTTP Request: GET" in caplog.text  # httpx's own request log is captured too
    assert "retrying" in caplog.text and "passed over" in caplog.text
    assert _leaks(caplog.text) == []
    for text in texts:
        assert _leaks(text) == []


def test_key_is_sent_on_the_wire_but_not_in_the_provenance():
    seen: list[httpx.Request] = []
    body = {"results": [{"t": 1700000000000, "o": 1, "h": 1, "l": 1, "c": 1, "v": 1}], "status": "OK"}
    provider = provider_on(PolygonProvider, lambda r: httpx.Response(200, json=body), seen=seen)

    bars = provider.fetch_bars("AAPL", "1m", datetime(2023, 11, 14, tzinfo=UTC), datetime(2023, 11, 15, tzinfo=UTC))

    assert seen[0].url.params["apiKey"] == "SECRET-KEY-123"
    assert "SECRET" not in bars["request"].iloc[0] and "apiKey" not in bars["request"].iloc[0]


def test_a_provider_echoing_the_key_in_its_error_is_scrubbed():
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"status": "NOT_AUTHORIZED",
                                         "message": f"Unknown API Key: {request.url.params['apiKey']}"})

    provider = provider_on(PolygonProvider, echo)

    with pytest.raises(Exception) as caught:
        provider.fetch_metadata("AAPL")

    assert "SECRET-KEY-123" not in str(caught.value)
    assert "Unknown API Key: ***" in str(caught.value)
