"""Fixtures of the ProjectX tests: a fake gateway on 127.0.0.1 (faults and request log reset
around each test) and a client factory pointing at it with a distinctive API key."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from marketdata_assets.settings import get_settings
from marketdata_assets.sources.http import RetryPolicy
from marketdata_assets.sources.projectx import ProjectXClient, build_projectx_client
from marketdata_assets.testkit.fakegateway import FakeGateway, Fault
from marketdata_assets_tests.sidecar.conftest import SHARED_REDIS

API_KEY = "PX-SECRET-KEY-0042"
FAST_RETRY = RetryPolicy(max_attempts=3, backoff_initial_s=0.01, backoff_max_s=0.05, jitter_s=0.0)


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis key prefix of this test's own, its keys deleted afterwards."""
    name = f"test-projectx-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(SHARED_REDIS)
    keys = list(client.scan_iter(f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="session")
def gateway_server() -> Iterator[FakeGateway]:
    with FakeGateway(port=0) as server:
        yield server


@pytest.fixture
def gateway(gateway_server: FakeGateway) -> Iterator[FakeGateway]:
    gateway_server.state.set_fault("*", Fault("ok"))
    gateway_server.state.clear_requests()
    yield gateway_server
    gateway_server.state.set_fault("*", Fault("ok"))


@pytest.fixture
def projectx_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[FakeGateway], None]:
    def point(server: FakeGateway, **env: str) -> None:
        values = {**server.settings_env(), "MARKETDATA_PROJECTX_USERNAME": "px-user",
                  "MARKETDATA_PROJECTX_API_KEY": API_KEY, **env}
        for key, value in values.items():
            monkeypatch.setenv(key, value)

    return point


@pytest.fixture
def client_for(projectx_env) -> Iterator[Callable[..., ProjectXClient]]:
    made: list[ProjectXClient] = []

    def make(server: FakeGateway, *, policy: RetryPolicy = FAST_RETRY, **kwargs) -> ProjectXClient:
        projectx_env(server, **kwargs.pop("env", {}))
        client = build_projectx_client(get_settings(), policy=policy, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
