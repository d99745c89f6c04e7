"""Yahoo chart v8: recorded bodies → bars equal to the JSON, in UTC; error shapes."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pandas as pd
import pytest

from marketdata_assets.errors import RateLimited
from marketdata_assets.sources.http.client import ProviderError
from marketdata_assets.sources.http.yahoo import YahooProvider, parse_chart
from marketdata_assets.testkit.recorded import recorded_root

from .helpers import load_json, provider_on

DAILY_FILES = sorted(p.name for p in recorded_root().joinpath("yahoo").iterdir()
                     if p.name.endswith(".json") and "interval-1m" not in p.name)


def _expected_daily(result: dict) -> pd.DataFrame:
    """From the JSON: the local trading date of each timestamp, at local midnight, in UTC."""
    tz = ZoneInfo(result["meta"]["exchangeTimezoneName"])
    quote = result["indicators"]["quote"][0]
    rows = []
    for i, epoch in enumerate(result["timestamp"]):
        day = datetime.fromtimestamp(epoch, tz).date()
        midnight = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
        rows.append([pd.Timestamp(midnight)] + [quote[k][i] for k in ("open", "high", "low", "close", "volume")])
    return pd.DataFrame(rows, columns=["ts", "open", "high", "low", "close", "volume"])


@pytest.mark.parametrize("name", DAILY_FILES)
def test_recorded_daily_chart_parses_to_the_json_values_at_local_midnight_utc(name):
    result = load_json(f"yahoo/{name}")["response"]["bodyJson"]["chart"]["result"][0]
    expected = _expected_daily(result)

    bars = parse_chart({"chart": {"result": [result], "error": None}}, "1d", request="r")

    assert list(bars["ts"]) == list(expected["ts"])
    for col in ("open", "high", "low", "close", "volume"):
        assert bars[col].tolist() == pytest.approx(expected[col].astype(float).tolist())
    assert str(bars["ts"].dtype) == "datetime64[us, UTC]"
    assert set(bars["provider"]) == {"yahoo"}


def test_daily_bar_of_a_us_stock_is_labelled_with_its_new_york_date():
    body = load_json("yahoo/chart-AAPL-2020-01-01-to-2020-01-03.json")["response"]["bodyJson"]

    bars = parse_chart(body, "1d")

    assert bars["ts"].tolist() == [pd.Timestamp("2020-01-02 05:00", tz="UTC")]


def test_weekend_minute_chart_without_timestamp_is_an_empty_frame():
    body = load_json(
        "yahoo/chart-AAPL-2025-02-01-to-2025-02-02-includePrePost-false-interval-1m.json"
    )["response"]["bodyJson"]

    bars = parse_chart(body, "1m")

    assert bars.empty
    assert list(bars.columns) == ["ts", "open", "high", "low", "close", "volume", "provider", "request"]
    assert str(bars["ts"].dtype) == "datetime64[us, UTC]"


def test_minute_with_null_prices_is_dropped_and_the_others_keep_their_epoch():
    body = copy.deepcopy(load_json("yahoo/chart-BTC-USD-2020-01-01-to-2020-01-03.json")["response"]["bodyJson"])
    result = body["chart"]["result"][0]
    for key in result["indicators"]["quote"][0]:
        result["indicators"]["quote"][0][key][1] = None
    stamps = result["timestamp"]

    bars = parse_chart(body, "1m")

    assert bars["ts"].tolist() == [pd.Timestamp(stamps[0], unit="s", tz="UTC"),
                                   pd.Timestamp(stamps[2], unit="s", tz="UTC")]


def test_fetch_bars_sends_epoch_range_and_labels_rows_with_provenance():
    recorded = load_json("yahoo/chart-AAPL-2020-01-01-to-2020-01-03.json")["response"]["bodyJson"]
    seen: list[httpx.Request] = []
    provider = provider_on(YahooProvider, lambda r: httpx.Response(200, json=recorded), seen=seen)

    bars = provider.fetch_bars("AAPL", "1d", datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 3, tzinfo=UTC))

    assert seen[0].url.path == "/v8/finance/chart/AAPL"
    assert seen[0].url.params["period1"] == "1577836800" and seen[0].url.params["period2"] == "1578009600"
    assert bars["request"].tolist() == [
        "yahoo GET /v8/finance/chart/AAPL?includePrePost=true&interval=1d&period1=1577836800&period2=1578009600"
    ]


def test_plain_text_429_is_rate_limited_with_its_retry_after():
    provider = provider_on(
        YahooProvider, lambda r: httpx.Response(429, text="Too Many Requests\r\n", headers={"Retry-After": "7"})
    )

    with pytest.raises(RateLimited) as caught:
        provider.fetch_bars("AAPL", "1m", datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC))

    assert caught.value.retry_after == 7.0
    assert "Too Many Requests" in str(caught.value)


def test_chart_error_for_an_unknown_symbol_is_a_provider_error_and_not_retried():
    seen: list[httpx.Request] = []
    body = {"chart": {"result": None, "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"}}}
    provider = provider_on(YahooProvider, lambda r: httpx.Response(404, json=body), attempts=3, seen=seen)

    with pytest.raises(ProviderError, match="symbol may be delisted"):
        provider.fetch_bars("NOPE", "1d", datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC))

    assert len(seen) == 1


def test_metadata_comes_from_the_chart_meta():
    recorded = load_json("yahoo/chart-GC=F-2020-01-01-to-2020-01-03.json")["response"]["bodyJson"]
    provider = provider_on(YahooProvider, lambda r: httpx.Response(200, json=recorded))

    meta = provider.fetch_metadata("GC=F")

    recorded_meta = recorded["chart"]["result"][0]["meta"]
    assert meta == {
        "name": recorded_meta.get("longName") or recorded_meta["shortName"],
        "exchange": recorded_meta["fullExchangeName"],
        "currency": recorded_meta["currency"],
        "asset_type": recorded_meta["instrumentType"],
    }
