"""The fake provider server: recorded answers, deterministic generated bars in each
provider's shape, key checks with the real error shapes, faults and the request log."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from marketdata_assets.sources.http.registry import build_provider
from marketdata_assets.testkit.fakeproviders import Fault, main, parse_fault

from .helpers import load_json

START, END = datetime(2024, 11, 22, 14, tzinfo=UTC), datetime(2024, 11, 22, 16, tzinfo=UTC)


def test_recorded_request_gets_the_recorded_body(fake):
    recorded = load_json("yahoo/chart-AAPL-2020-01-01-to-2020-01-03.json")["response"]["bodyJson"]

    answer = httpx.get(fake.base_url("yahoo") + "/v8/finance/chart/AAPL",
                       params={"interval": "1d", "period1": "1577836800", "period2": "1578009600"})

    assert answer.json() == recorded


@pytest.mark.parametrize(("provider", "symbol"),
                         [("yahoo", "NQ=F"), ("alphavantage", "NDX"), ("twelvedata", "NAS100"), ("polygon", "I:NDX")])
def test_generated_minute_bars_are_deterministic_and_inside_the_range(fake, settings_for, provider, symbol):
    client = build_provider(provider, settings_for())

    first = client.fetch_bars(symbol, "1m", START, END)
    second = client.fetch_bars(symbol, "1m", START, END)

    assert len(first) >= 110  # 120 minutes, minus Yahoo's deliberate null minutes
    assert first[["ts", "open", "high", "low", "close"]].equals(second[["ts", "open", "high", "low", "close"]])
    assert first["ts"].min() >= START and first["ts"].max() < END and first["ts"].is_unique
    assert (first["high"] >= first[["open", "close"]].max(axis=1)).all()
    assert (first["low"] <= first[["open", "close"]].min(axis=1)).all()


def test_providers_agree_on_the_generated_walk_of_one_instrument(fake, settings_for):
    settings = settings_for()
    twelvedata = build_provider("twelvedata", settings).fetch_bars("NAS100", "1m", START, END)
    polygon = build_provider("polygon", settings).fetch_bars("I:NDX", "1m", START, END)

    merged = twelvedata.merge(polygon, on="ts", suffixes=("_td", "_pg"))

    assert len(merged) == 120
    assert merged["close_td"].round(2).equals(merged["close_pg"].round(2))


def test_weekend_has_no_bars_and_crypto_trades_anyway(fake, settings_for):
    yahoo = build_provider("yahoo", settings_for())
    saturday = datetime(2024, 11, 23, tzinfo=UTC), datetime(2024, 11, 24, tzinfo=UTC)

    assert yahoo.fetch_bars("NQ=F", "1m", *saturday).empty
    assert len(yahoo.fetch_bars("BTC-USD", "1d", *saturday)) == 1


def test_daily_bars_are_labelled_alike_by_every_provider(fake, settings_for):
    settings = settings_for()
    week = datetime(2024, 11, 18, tzinfo=UTC), datetime(2024, 11, 23, tzinfo=UTC)

    labels = {
        (name, symbol): build_provider(name, settings).fetch_bars(symbol, "1d", *week)["ts"].tolist()
        for name, symbol in (("yahoo", "AAPL"), ("alphavantage", "AAPL"), ("twelvedata", "MSFT"), ("polygon", "IBM"),
                             ("polygon", "I:NDX"))  # Polygon stamps index days at 01:00 New York
    }

    expected = [datetime(2024, 11, d, 5, tzinfo=UTC) for d in range(18, 23)]
    assert all(ts == expected for ts in labels.values()), labels


def test_polygon_pages_with_next_url_and_each_page_is_its_own_provenance(fake, settings_for):
    polygon = build_provider("polygon", settings_for())

    bars = polygon.fetch_bars("X:BTCUSD", "1m", datetime(2024, 11, 23, tzinfo=UTC), datetime(2024, 11, 24, tzinfo=UTC))

    assert len(bars) == 1440
    assert bars["request"].nunique() == 2
    assert [r["query"].get("apiKey") for r in fake.requests("polygon")] == ["***", "***"]


@pytest.mark.parametrize(
    ("provider", "path", "status", "marker"),
    [("alphavantage", "/query?function=OVERVIEW&symbol=IBM", 200, "apikey is invalid or missing"),
     ("twelvedata", "/time_series?symbol=AAPL&interval=1min", 401, "**apikey**"),
     ("polygon", "/v3/reference/tickers/AAPL", 401, "API Key was not provided"),
     ("coinmarketcap", "/v1/cryptocurrency/info?symbol=BTC", 401, "API key missing")],
)
def test_keyed_provider_without_a_key_answers_its_real_error_shape(fake, provider, path, status, marker):
    answer = httpx.get(fake.base_url(provider) + path)

    assert answer.status_code == status and marker in answer.text


def test_control_endpoint_sets_a_counted_fault_and_logs_requests(fake):
    url = fake.base_url("yahoo") + "/v8/finance/chart/AAPL?interval=1d&range=5d"
    httpx.post(fake.url + "/_control/faults", json={"provider": "yahoo", "mode": "500", "count": 2})

    statuses = [httpx.get(url).status_code for _ in range(3)]
    log = httpx.get(fake.url + "/_control/requests", params={"provider": "yahoo"}).json()["requests"]

    assert statuses == [500, 500, 200]
    assert [(e["path"], e["status"], e["fault"]) for e in log] == [
        ("/v8/finance/chart/AAPL", 500, "500"), ("/v8/finance/chart/AAPL", 500, "500"),
        ("/v8/finance/chart/AAPL", 200, None)]
    assert all(isinstance(e["t"], float) for e in log)


def test_control_endpoint_rejects_unknown_modes(fake):
    answer = httpx.post(fake.url + "/_control/faults", json={"provider": "yahoo", "mode": "explode"})

    assert answer.status_code == 400 and "explode" in answer.text


@pytest.mark.parametrize(("provider", "symbol"),
                         [("yahoo", "AAPL"), ("alphavantage", "IBM"), ("twelvedata", "AAPL"), ("polygon", "AAPL")])
def test_empty_fault_gives_an_empty_frame_in_every_provider_shape(fake, settings_for, provider, symbol):
    client = build_provider(provider, settings_for())
    fake.set_fault(provider, "empty")

    assert client.fetch_bars(symbol, "1m", START, END).empty


def test_cli_fault_flags_parse_to_faults():
    assert parse_fault("yahoo=429,retry_after=1,count=3") == ("yahoo", Fault("429", retry_after=1.0, count=3))
    assert parse_fault("*=timeout,delay_s=2") == ("*", Fault("timeout", delay_s=2.0))


@pytest.mark.parametrize("flag", ["nobody=429", "yahoo=explode", "yahoo=429,colour=red"])
def test_cli_rejects_bad_fault_flags(flag):
    with pytest.raises(SystemExit) as caught:
        main(["--port", "0", "--fault", flag])

    assert caught.value.code == 2
