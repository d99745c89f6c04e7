"""Fixtures of the catalog tests: a Dagster test instance, and the fake provider server
(shared by the session, faults reset around each test) with settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest

from marketdata_assets.testkit.fakeproviders import FakeProviders, Fault

FAKE_KEYS = {
    "ALPHAVANTAGE_API_KEY": "SECRET-KEY-123-AV",
    "TWELVEDATA_API_KEY": "SECRET-KEY-123-TD",
    "POLYGON_API_KEY": "SECRET-KEY-123-PG",
    "COINMARKETCAP_API_KEY": "SECRET-KEY-123-CMC",
}


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeProviders]:
    with FakeProviders(port=0) as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeProviders, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviders]:
    """The fake server, healthy, with every provider's base URL and a fake key in the
    environment, generous quotas and no retries (a 500 is final at once)."""
    fake_server.state.set_fault("*", Fault("ok"))
    fake_server.clear_requests()
    env = {**fake_server.settings_env(), **FAKE_KEYS, "MARKETDATA_HTTP_MAX_ATTEMPTS": "1"}
    env.update({f"MARKETDATA_{p}_RATE_LIMIT": "1000"
                for p in ("YAHOO", "ALPHAVANTAGE", "TWELVEDATA", "POLYGON", "COINMARKETCAP")})
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield fake_server
    fake_server.state.set_fault("*", Fault("ok"))
