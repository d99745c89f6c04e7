"""The ProjectX REST client against the fake gateway: contracts, paging, limits, auth, errors."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import pandas as pd
import pytest

from marketdata_assets.errors import CircuitOpen, ConfigError, RateLimited
from marketdata_assets.settings import get_settings
from marketdata_assets.sources.http import AuthenticationFailed, TransientError
from marketdata_assets.sources.projectx import GatewayError, build_projectx_client, contract_name
from marketdata_assets.sources.projectx.rest import LoginRefused
from marketdata_assets.testkit.fakegateway import FakeGateway, Limits, catalog, market

from .conftest import API_KEY

MON = datetime(2024, 11, 4, tzinfo=UTC)
TUE = datetime(2024, 11, 5, tzinfo=UTC)


def test_instrument_names_map_to_one_digit_year_contract_names():
    assert [contract_name(i) for i in ("ESZ24", "NQH25", "MESZ24")] == ["ESZ4", "NQH5", "MESZ4"]


def test_contract_search_picks_the_exact_contract_never_a_look_alike(gateway, client_for):
    client = client_for(gateway)
    es = client.contract("ESZ24")
    nq = client.contract("NQZ24")
    (search,) = [r for r in gateway.requests("search") if r["body"]["searchText"] == "ESZ4"]
    assert (es.id, es.name, es.tick_size, es.tick_value) == ("CON.F.US.EP.Z24", "ESZ4", 0.25, 12.5)
    assert nq.id == "CON.F.US.ENQ.Z24"
    names = [c.name for c in catalog.search("ESZ4")]
    assert names.index("MESZ4") < names.index("ESZ4") and "ESH5" in names  # the look-alikes really came first
    assert search["status"] == 200


def test_a_contract_the_gateway_does_not_list_is_an_error_naming_the_search_hits(gateway, client_for):
    client = client_for(gateway)
    with pytest.raises(GatewayError, match=r"no contract named ESU6 for ESU26 \(search found: .*ESZ4"):
        client.contract("ESU26")


def test_paging_covers_the_window_with_no_gap_and_no_duplicate_at_joins(gateway, client_for):
    client = client_for(gateway)
    contract = catalog.CONTRACTS["CON.F.US.EP.Z24"]
    expected = market.minutes(contract, MON, TUE)
    frame = client.fetch_bars(contract.id, MON, TUE, limit=400)
    calls = gateway.requests("retrieveBars")
    ends = [pd.Timestamp(c["body"]["endTime"]) for c in calls]
    assert len(expected) > 1000  # a real multi-page window
    assert len(calls) == len(expected) // 399 + 1
    assert frame["ts"].is_unique and frame["ts"].is_monotonic_increasing
    assert frame["ts"].tolist() == expected["ts"].tolist()
    assert frame[["open", "high", "low", "close", "volume"]].to_numpy().tolist() == \
        expected[["open", "high", "low", "close", "volume"]].to_numpy().tolist()
    assert all(e in set(frame["ts"]) for e in ends[1:])  # each join bar was asked for twice, kept once
    assert set(frame["provider"]) == {"projectx"} and frame["request"].str.contains("retrieveBars").all()


def test_client_side_limiter_keeps_retrieve_bars_under_the_gateway_limit(projectx_env, client_for):
    with FakeGateway(limits=Limits(bars=3, bars_window_s=1.0)) as server:
        client = client_for(server, rates=((200, 60.0), (3, 1.0)))
        client.fetch_bars("CON.F.US.EP.Z24", MON, TUE, limit=300)  # 5 pages
        calls = server.requests("retrieveBars")
    times = sorted(c["t"] for c in calls)
    assert len(calls) >= 5
    assert all(c["status"] == 200 for c in calls)
    assert all(b - a >= 1.0 for a, b in zip(times, times[3:], strict=False))  # never 4 in one second


def test_server_429_is_retried_with_backoff(gateway, client_for):
    client = client_for(gateway)
    gateway.set_fault("retrieveBars", "429", count=2)
    frame = client.fetch_bars("CON.F.US.EP.Z24", MON, TUE)
    statuses = [c["status"] for c in gateway.requests("retrieveBars")]
    assert statuses == [429, 429, 200]
    assert len(frame) > 0


def test_429s_count_toward_the_circuit_breaker(gateway, client_for):
    client = client_for(gateway, env={"MARKETDATA_BREAKER_FAILURES": "3"})
    client.contract("ESZ24")
    gateway.set_fault("retrieveBars", "429")
    with pytest.raises(RateLimited):
        client.fetch_bars("CON.F.US.EP.Z24", MON, TUE)  # 3 attempts, 3 failures: the breaker opens
    with pytest.raises(CircuitOpen):
        client.fetch_bars("CON.F.US.EP.Z24", MON, TUE)
    assert len(gateway.requests("retrieveBars")) == 3  # the open circuit sent nothing


def test_persistent_5xx_fails_with_the_status_after_the_retries(gateway, client_for):
    client = client_for(gateway)
    client.contract("ESZ24")
    gateway.set_fault("retrieveBars", "500")
    with pytest.raises(TransientError, match="HTTP 500 on projectx POST /api/History/retrieveBars"):
        client.fetch_bars("CON.F.US.EP.Z24", MON, TUE)
    assert [c["status"] for c in gateway.requests("retrieveBars")] == [500, 500, 500]


def test_a_401_renews_the_token_once_and_the_call_succeeds(gateway, client_for):
    client = client_for(gateway)
    client.contract("ESZ24")
    gateway.set_fault("retrieveBars", "expire_token", count=1)
    frame = client.fetch_bars("CON.F.US.EP.Z24", MON, TUE)
    assert client.logins == 2
    assert [c["status"] for c in gateway.requests("retrieveBars")] == [401, 200]
    assert len(frame) > 0


def test_a_second_401_right_after_renewal_is_a_clear_error(gateway, client_for):
    client = client_for(gateway)
    client.contract("ESZ24")
    gateway.set_fault("retrieveBars", "expire_token")
    with pytest.raises(AuthenticationFailed, match="token refused again right after a fresh login"):
        client.fetch_bars("CON.F.US.EP.Z24", MON, TUE)
    assert client.logins == 2


def test_the_token_is_renewed_before_it_expires(projectx_env, client_for):
    with FakeGateway(limits=Limits(token_ttl_s=3.0)) as server:
        client = client_for(server)
        client.renew_before_s = 2.5
        client.contract("ESZ24")
        time.sleep(0.6)  # now within 2.5 s of the 3 s expiry
        client.contract("NQZ24")
        assert client.logins == 2
        assert [r["status"] for r in server.requests()] == [200, 200, 200, 200]  # never a 401


def test_success_false_is_a_gateway_error_with_code_and_message(gateway, client_for):
    client = client_for(gateway)
    with pytest.raises(GatewayError, match="errorCode 1: Contract 'CON.F.US.XX.Z24' not found") as info:
        client.bars_page("CON.F.US.XX.Z24", MON, TUE)
    assert info.value.error_code == 1


def test_a_refused_login_is_an_authentication_error(gateway, client_for):
    client = client_for(gateway, env={"MARKETDATA_PROJECTX_API_KEY": "invalid-key"})
    with pytest.raises(LoginRefused, match="errorCode 3"):
        client.contract("ESZ24")


def test_the_api_key_and_token_stay_out_of_logs_errors_and_provenance(gateway, client_for, caplog):
    caplog.set_level(logging.DEBUG)
    client = client_for(gateway)
    frame = client.fetch_bars(client.contract("ESZ24").id, MON, TUE)
    gateway.set_fault("retrieveBars", "500")
    with pytest.raises(TransientError) as info:
        client.bars_page("CON.F.US.EP.Z24", MON, TUE)
    token = client._http._wire._headers["Authorization"].split()[1]  # noqa: SLF001 - reading what went out
    emitted = caplog.text + str(info.value) + " ".join(frame["request"]) + repr(client) + repr(get_settings())
    assert API_KEY not in emitted and token not in emitted
    assert "px-user" in caplog.text  # the log did talk about the login


def test_missing_credentials_are_a_config_error_naming_the_variable(gateway, projectx_env, monkeypatch):
    projectx_env(gateway)
    monkeypatch.delenv("MARKETDATA_PROJECTX_API_KEY")
    with pytest.raises(ConfigError, match="MARKETDATA_PROJECTX_API_KEY"):
        build_projectx_client(get_settings())
