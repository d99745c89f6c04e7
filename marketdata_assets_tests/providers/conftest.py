"""Fixtures of the provider tests: a fake provider server shared by the session
(faults and request log reset around each test), settings pointing at it with
distinctive fake keys, and a deterministic clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from marketdata_assets.settings import Settings, get_settings
from marketdata_assets.testkit.fakeproviders import FakeProviders, Fault

from .helpers import FAKE_KEYS, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeProviders]:
    with FakeProviders(port=0) as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeProviders) -> Iterator[FakeProviders]:
    fake_server.state.set_fault("*", Fault("ok"))
    fake_server.clear_requests()
    yield fake_server
    fake_server.state.set_fault("*", Fault("ok"))


@pytest.fixture
def settings_for(fake: FakeProviders, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Settings from the environment, pointing at the fake server, with fake keys and
    generous quotas unless the test overrides a variable."""

    def make(**env: str) -> Settings:
        defaults = {f"MARKETDATA_{p}_RATE_LIMIT": "1000" for p in
                    ("YAHOO", "ALPHAVANTAGE", "TWELVEDATA", "POLYGON", "COINMARKETCAP")}
        for key, value in {**fake.settings_env(), **FAKE_KEYS, **defaults, **env}.items():
            monkeypatch.setenv(key, str(value))
        return get_settings()

    return make
