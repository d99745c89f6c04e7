"""The fake gateway speaks the documented REST shapes, limits and faults."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import numpy as np
import pandas as pd
import pytest

from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.testkit.fakegateway import FakeGateway, Limits, catalog, market, parse_fault

ES = catalog.CONTRACTS["CON.F.US.EP.Z24"]


def _session(server: FakeGateway) -> tuple[httpx.Client, dict]:
    http = httpx.Client(base_url=server.url)
    token = http.post("/api/Auth/loginKey", json={"userName": "u", "apiKey": "k"}).json()["token"]
    return http, {"Authorization": f"Bearer {token}"}


def _bars(http, auth, **body) -> httpx.Response:
    return http.post("/api/History/retrieveBars", headers=auth, json={
        "contractId": ES.id, "live": False, "unit": 2, "unitNumber": 1, "limit": 20000,
        "includePartialBar": False, **body})


def test_retrieve_bars_answers_newest_first_capped_at_20000_with_end_inclusive(gateway):
    http, auth = _session(gateway)
    body = _bars(http, auth, startTime="2024-10-01T00:00:00Z", endTime="2024-11-15T00:00:00Z").json()
    short = _bars(http, auth, startTime="2024-11-04T15:00:00Z", endTime="2024-11-04T15:05:00Z").json()
    stamps = [b["t"] for b in body["bars"]]
    assert body["success"] is True and body["errorCode"] == 0
    assert len(stamps) == 20000 and stamps == sorted(stamps, reverse=True)
    assert stamps[0] == "2024-11-15T00:00:00+00:00"  # the bar at endTime itself
    assert [b["t"][11:16] for b in short["bars"]] == ["15:05", "15:04", "15:03", "15:02", "15:01", "15:00"]


def test_bars_exist_only_while_the_market_is_open_and_sit_on_the_tick_grid():
    frame = market.minutes(ES, datetime(2024, 11, 4, tzinfo=UTC), datetime(2024, 11, 10, tzinfo=UTC))
    us = frame["ts"].astype("int64").to_numpy() // 1000
    cme = market_for_instrument("ESZ24")
    prices = frame[["open", "high", "low", "close"]].to_numpy()
    assert cme.in_session(us).all()
    assert not ((frame["ts"].dt.hour == 21) & (frame["ts"].dt.tz_convert("America/Chicago").dt.hour == 16)).any()
    assert frame["ts"].dt.weekday.max() <= 4  # nothing on the weekend
    assert np.allclose(prices / 0.25, np.round(prices / 0.25))


def test_trades_aggregate_exactly_to_their_minute_bar():
    start, end = datetime(2024, 11, 4, 15, tzinfo=UTC), datetime(2024, 11, 4, 16, tzinfo=UTC)
    bars = market.minutes(ES, start, end).set_index("ts")
    trades = market.trades(ES, start, end)
    trades["minute"] = pd.to_datetime(trades["ts_us"] // 60_000_000 * 60, unit="s", utc=True)
    g = trades.groupby("minute")
    rebuilt = pd.DataFrame({"open": g["price"].first(), "high": g["price"].max(), "low": g["price"].min(),
                            "close": g["price"].last(), "volume": g["size"].sum().astype(float)})
    assert rebuilt.index.tolist() == bars.index.tolist()
    assert np.allclose(rebuilt.to_numpy(), bars[["open", "high", "low", "close", "volume"]].to_numpy())


def test_second_bars_sum_to_the_minute(gateway):
    http, auth = _session(gateway)
    secs = _bars(http, auth, unit=1, startTime="2024-11-04T15:00:00Z", endTime="2024-11-04T15:00:59Z").json()
    (minute,) = _bars(http, auth, startTime="2024-11-04T15:00:00Z", endTime="2024-11-04T15:00:00Z").json()["bars"]
    assert sum(b["v"] for b in secs["bars"]) == minute["v"]
    assert max(b["h"] for b in secs["bars"]) == minute["h"] and secs["bars"][-1]["o"] == minute["o"]


def test_calls_beyond_the_documented_limit_get_429(projectx_env):
    with FakeGateway(limits=Limits(bars=2, bars_window_s=30.0)) as server:
        http, auth = _session(server)
        codes = [_bars(http, auth, startTime="2024-11-04T15:00:00Z", endTime="2024-11-04T15:01:00Z").status_code
                 for _ in range(3)]
        search = http.post("/api/Contract/search", headers=auth, json={"searchText": "NQZ4", "live": False})
    assert codes == [200, 200, 429]
    assert search.status_code == 200  # other calls have their own budget


def test_missing_or_expired_token_gets_401(gateway):
    http, auth = _session(gateway)
    no_token = http.post("/api/Contract/search", json={"searchText": "ESZ4"})
    gateway.set_fault("search", "expire_token", count=1)
    expired = http.post("/api/Contract/search", headers=auth, json={"searchText": "ESZ4"})
    assert (no_token.status_code, expired.status_code) == (401, 401)


def test_the_request_log_never_holds_the_api_key(gateway):
    httpx.post(f"{gateway.url}/api/Auth/loginKey", json={"userName": "u", "apiKey": "TOPSECRET"})
    assert "TOPSECRET" not in repr(gateway.requests())


def test_fault_options_parse_and_bad_ones_are_refused():
    target, fault = parse_fault("hub=stall,delay_s=20,count=1")
    assert (target, fault.mode, fault.delay_s, fault.count) == ("hub", "stall", 20.0, 1)
    with pytest.raises(ValueError, match="target"):
        parse_fault("yahoo=429")
