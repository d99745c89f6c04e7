"""Polygon: recorded bodies → bars equal to the JSON (epoch ms → UTC); reference data;
the 401/403/429 JSON bodies → typed errors; ``next_url`` pagination."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pandas as pd
import pytest

from marketdata_assets.errors import RateLimited
from marketdata_assets.sources.http.client import AuthenticationFailed, ProviderError
from marketdata_assets.sources.http.polygon import PolygonProvider, parse_aggs, parse_ticker

from .helpers import load_json, provider_on

AGGS = "polygon/v2_aggs_AAPL_range_1_day_2005-04-01_2005-04-04.json"


def test_recorded_aggregates_parse_to_the_json_values_in_utc():
    body = load_json(AGGS)

    bars = parse_aggs(body, "1d", request="r")

    results = body["results"]
    assert bars["ts"].tolist() == [pd.Timestamp(r["t"], unit="ms", tz="UTC") for r in results]
    for col, key in (("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"), ("volume", "v")):
        assert bars[col].tolist() == [float(r[key]) for r in results]


def test_daily_request_uses_dates_and_keeps_bars_inside_the_range():
    seen: list[httpx.Request] = []
    provider = provider_on(PolygonProvider, lambda r: httpx.Response(200, json=load_json(AGGS)), seen=seen)

    bars = provider.fetch_bars("AAPL", "1d", datetime(2005, 4, 1, tzinfo=UTC), datetime(2005, 4, 5, tzinfo=UTC))

    assert seen[0].url.path == "/v2/aggs/ticker/AAPL/range/1/day/2005-04-01/2005-04-04"
    assert len(bars) == 2
    assert bars["request"].iloc[0] == (
        "polygon GET /v2/aggs/ticker/AAPL/range/1/day/2005-04-01/2005-04-04?adjusted=true&limit=50000&sort=asc"
    )


def test_recorded_ticker_details_normalize_to_the_common_keys():
    body = load_json("polygon/v3_reference_tickers_AAPL.json")
    r = body["results"]

    meta = parse_ticker(body)

    assert meta == {"name": r["name"], "industry": r["sic_description"], "exchange": r["primary_exchange"],
                    "currency": "USD", "market_cap": float(r["market_cap"]), "description": r["description"],
                    "asset_type": r["type"]}


def test_next_url_on_another_host_is_followed_on_our_base_url_with_the_key_again():
    pages = [load_json("polygon/v3_reference_tickers_page1.json"), load_json("polygon/v3_reference_tickers_page2.json")]
    seen: list[httpx.Request] = []
    provider = provider_on(PolygonProvider, lambda r: httpx.Response(200, json=pages[len(seen) - 1]), seen=seen)

    rows = provider.list_tickers()

    assert [r["ticker"] for r in rows] == [r["ticker"] for p in pages for r in p["results"]]
    assert seen[1].url.host == "provider.test"
    assert "cursor" in seen[1].url.params and seen[1].url.params["apiKey"] == "SECRET-KEY-123"


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, {"status": "ERROR", "request_id": "x", "error": "API Key was not provided"}, AuthenticationFailed),
        (403, {"status": "NOT_AUTHORIZED", "request_id": "x",
               "message": "You are not entitled to this data. Please upgrade your plan at https://polygon.io/pricing"},
         AuthenticationFailed),
        (429, {"status": "ERROR", "request_id": "x",
               "error": "You've exceeded the maximum requests per minute, please wait or upgrade your subscription."},
         RateLimited),
        (404, {"status": "NOT_FOUND", "request_id": "x", "message": "Ticker not found."}, ProviderError),
    ],
    ids=["401", "403", "429", "404"],
)
def test_error_bodies_raise_typed_errors_quoting_the_reason(status, body, error):
    provider = provider_on(PolygonProvider, lambda r: httpx.Response(status, json=body))

    with pytest.raises(error) as caught:
        provider.fetch_bars("AAPL", "1m", datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC))

    assert (body.get("error") or body.get("message")) in str(caught.value)


def test_aggregates_without_results_are_an_empty_frame():
    body = {"ticker": "AAPL", "queryCount": 0, "resultsCount": 0, "adjusted": True, "status": "OK", "request_id": "x"}

    assert parse_aggs(body, "1m").empty
