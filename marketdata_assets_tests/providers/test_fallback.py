"""Priority fallback: the first healthy provider serves and is named; the others'
reasons are kept; when nobody serves, the error lists every reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from marketdata_assets.errors import CircuitOpen
from marketdata_assets.model.symbol_map import load_symbol_map
from marketdata_assets.sources.http.base import empty_bars
from marketdata_assets.sources.http.client import TransientError
from marketdata_assets.sources.http.fallback import (
    AllProvidersFailed,
    fetch_metadata_with_fallback,
    fetch_with_fallback,
)
from marketdata_assets.sources.http.registry import build_providers
from marketdata_assets.sources.http.retry import RetryPolicy

from .helpers import SleepRecorder

START, END = datetime(2024, 11, 22, 14, tzinfo=UTC), datetime(2024, 11, 22, 14, 30, tzinfo=UTC)


class Stub:
    """A provider that answers from a script (frame or exception) and counts calls."""

    def __init__(self, name: str, answer):
        self.name = name
        self.answer = answer
        self.calls = 0

    def fetch_bars(self, symbol, timeframe, start, end):
        self.calls += 1
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer

    def fetch_metadata(self, symbol):
        self.calls += 1
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def _bars(provider: str) -> pd.DataFrame:
    frame = pd.DataFrame({"ts": [pd.Timestamp(START)], "open": [1.0], "high": [1.0], "low": [1.0],
                          "close": [1.0], "volume": [1.0], "provider": [provider], "request": ["r"]})
    frame["ts"] = frame["ts"].astype("datetime64[us, UTC]")
    return frame


def test_429_then_timeout_falls_through_to_the_third_provider_which_labels_the_bars(fake, settings_for):
    settings = settings_for(MARKETDATA_PROVIDER_PRIORITY="yahoo,alphavantage,twelvedata,polygon")
    providers = build_providers(settings, timeout_s=0.25, sleep=SleepRecorder(),
                                policy=RetryPolicy(max_attempts=2, jitter_s=0))
    fake.set_fault("yahoo", "429", retry_after=1)
    fake.set_fault("alphavantage", "timeout", delay_s=3)

    bars, served_by, attempts = fetch_with_fallback(
        providers, load_symbol_map().provider_symbols("NAS100"), "1m", START, END, instrument="NAS100"
    )

    assert served_by == "twelvedata"
    assert set(bars["provider"]) == {"twelvedata"}
    assert bars["request"].str.startswith("twelvedata GET /time_series?").all()
    assert len(bars) == 30 and bars["ts"].is_monotonic_increasing
    assert [(a.provider, a.outcome) for a in attempts] == [
        ("yahoo", "rate_limited"), ("alphavantage", "failed"), ("twelvedata", "served")]
    assert "timeout" in attempts[1].reason
    assert fake.requests("polygon") == []


def test_empty_answer_is_passed_over_for_the_next_provider():
    first, second = Stub("a", empty_bars("a")), Stub("b", _bars("b"))

    bars, served_by, attempts = fetch_with_fallback([first, second], {"a": "X", "b": "X"}, "1m", START, END)

    assert served_by == "b" and bars["provider"].tolist() == ["b"]
    assert [a.outcome for a in attempts] == ["empty", "served"]


def test_open_circuit_and_missing_symbol_are_skipped():
    open_circuit = Stub("a", CircuitOpen("a", "circuit open"))
    unmapped, serving = Stub("b", _bars("b")), Stub("c", _bars("c"))

    _, served_by, attempts = fetch_with_fallback([open_circuit, unmapped, serving], {"a": "X", "c": "X"},
                                                 "1m", START, END)

    assert served_by == "c" and unmapped.calls == 0
    assert [a.outcome for a in attempts] == ["circuit_open", "no_symbol", "served"]


def test_when_nobody_serves_the_error_lists_each_providers_reason():
    providers = [Stub("a", TransientError("a", "HTTP 503 on a GET /x", kind="server_error")),
                 Stub("b", CircuitOpen("b", "circuit open after 5 consecutive failures")),
                 Stub("c", empty_bars("c"))]

    with pytest.raises(AllProvidersFailed) as caught:
        fetch_with_fallback(providers, lambda name: "X", "1d", START, END, instrument="NAS100")

    text = str(caught.value)
    assert "NAS100 1d" in text
    assert "a: HTTP 503 on a GET /x" in text and "b: circuit open" in text and "c: no data for X" in text
    assert not caught.value.only_empty


def test_all_empty_is_told_apart_from_an_outage():
    with pytest.raises(AllProvidersFailed) as caught:
        fetch_with_fallback([Stub("a", empty_bars("a")), Stub("b", empty_bars("b"))], {"a": "X"}, "1m", START, END)

    assert caught.value.only_empty


def test_programming_errors_propagate_instead_of_falling_back():
    broken, serving = Stub("a", KeyError("bug")), Stub("b", _bars("b"))

    with pytest.raises(KeyError):
        fetch_with_fallback([broken, serving], {"a": "X", "b": "X"}, "1m", START, END)

    assert serving.calls == 0


def test_metadata_comes_from_the_first_provider_that_knows_the_instrument():
    providers = [Stub("a", {}), Stub("b", {"name": "Bitcoin"})]

    meta, served_by, attempts = fetch_metadata_with_fallback(providers, {"a": "BTC", "b": "BTC"})

    assert (meta, served_by) == ({"name": "Bitcoin"}, "b")
    assert [a.outcome for a in attempts] == ["empty", "served"]
