"""Alpha Vantage: recorded bodies → bars equal to the JSON, US/Eastern → UTC; the
HTTP-200 error shapes → typed errors; FX/crypto symbols pick their endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pandas as pd
import pytest

from marketdata_assets.errors import RateLimited
from marketdata_assets.sources.http.alphavantage import (
    AlphaVantageProvider,
    parse_overview,
    parse_symbol_search,
    parse_time_series,
)
from marketdata_assets.sources.http.client import AuthenticationFailed, NotSupported, ProviderError

from .helpers import load_json, provider_on

INTRADAY = "alphavantage/time_series_intraday_1min_MSFT.json"


def test_recorded_intraday_parses_to_the_json_values_with_eastern_times_in_utc():
    body = load_json(INTRADAY)
    tz = ZoneInfo(body["Meta Data"]["6. Time Zone"])
    series = body["Time Series (1min)"]
    expected = sorted(
        (pd.Timestamp(datetime.fromisoformat(k).replace(tzinfo=tz)).tz_convert("UTC"), v) for k, v in series.items()
    )

    bars = parse_time_series(body, "1m", request="r")

    assert bars["ts"].tolist() == [ts for ts, _ in expected]
    for col, key in (("open", "1. open"), ("high", "2. high"), ("low", "3. low"),
                     ("close", "4. close"), ("volume", "5. volume")):
        assert bars[col].tolist() == [float(v[key]) for _, v in expected]


def test_newest_first_series_comes_out_ascending_and_unique():
    bars = parse_time_series(load_json(INTRADAY), "1m")

    assert bars["ts"].is_monotonic_increasing and bars["ts"].is_unique
    assert bars["ts"].iloc[-1] == pd.Timestamp("2017-12-18 19:56", tz="UTC")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"Note": "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute"},
         RateLimited),
        ({"Information": "We have detected your API key as SECRET and our standard API rate limit is 25 requests per day."},
         RateLimited),
        ({"Error Message": "Invalid API call. Please retry or visit the documentation for TIME_SERIES_INTRADAY."},
         ProviderError),
        ({"Error Message": "the parameter apikey is invalid or missing. Please claim your free API key."},
         AuthenticationFailed),
    ],
    ids=["note", "information", "error-message", "bad-key"],
)
def test_http_200_error_shapes_raise_typed_errors(body, error):
    provider = provider_on(AlphaVantageProvider, lambda r: httpx.Response(200, json=body))

    with pytest.raises(error):
        provider.fetch_bars("IBM", "1d", datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC))


def test_fx_symbol_uses_fx_intraday_with_from_and_to_symbols():
    seen: list[httpx.Request] = []
    body = {"Meta Data": {"7. Time Zone": "UTC"}, "Time Series FX (1min)": {
        "2024-01-02 10:01:00": {"1. open": "1.1", "2. high": "1.2", "3. low": "1.0", "4. close": "1.15"}}}
    provider = provider_on(AlphaVantageProvider, lambda r: httpx.Response(200, json=body), seen=seen)

    bars = provider.fetch_bars("FX:EUR/USD", "1m", datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC))

    params = seen[0].url.params
    assert (params["function"], params["from_symbol"], params["to_symbol"]) == ("FX_INTRADAY", "EUR", "USD")
    assert bars["ts"].tolist() == [pd.Timestamp("2024-01-02 10:01", tz="UTC")]
    assert bars["volume"].isna().all()


def test_stock_intraday_is_requested_one_month_at_a_time():
    seen: list[httpx.Request] = []
    empty = {"Meta Data": {"6. Time Zone": "US/Eastern"}, "Time Series (1min)": {}}
    provider = provider_on(AlphaVantageProvider, lambda r: httpx.Response(200, json=empty), seen=seen)

    provider.fetch_bars("IBM", "1m", datetime(2024, 1, 30, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC))

    assert [r.url.params["month"] for r in seen] == ["2024-01", "2024-02"]


def test_recorded_overview_normalizes_to_the_common_keys():
    body = load_json("alphavantage/overview_IBM.json")

    meta = parse_overview(body)

    assert meta == {
        "name": body["Name"], "sector": body["Sector"], "industry": body["Industry"],
        "exchange": body["Exchange"], "currency": body["Currency"],
        "market_cap": float(body["MarketCapitalization"]), "description": body["Description"],
        "asset_type": body["AssetType"],
    }


def test_empty_overview_means_no_metadata():
    assert parse_overview({}) == {}


def test_fx_symbol_has_no_metadata_endpoint():
    provider = provider_on(AlphaVantageProvider, lambda r: httpx.Response(500))

    with pytest.raises(NotSupported):
        provider.fetch_metadata("FX:EUR/USD")


def test_recorded_symbol_search_reads_plain_keys():
    body = load_json("alphavantage/symbol_search.json")

    rows = parse_symbol_search(body)

    assert [r["symbol"] for r in rows] == [m["1. symbol"] for m in body["bestMatches"]]
    assert rows[0]["currency"] == body["bestMatches"][0]["8. currency"]
    assert rows[0]["matchScore"] == float(body["bestMatches"][0]["9. matchScore"])
