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


def _as_polygon_aggs(yahoo_body: dict, ticker: str, stamp_hour: int) -> dict:
    """The recorded Yahoo daily bars in the recorded Polygon aggregates shape, stamped the
    way Polygon stamps ``ticker``'s daily bars: ``stamp_hour`` o'clock New York of the day."""
    result = yahoo_body["chart"]["result"][0]
    quote = result["indicators"]["quote"][0]
    body = {k: v for k, v in load_json(AGGS).items() if k != "results"}
    body["ticker"] = ticker
    body["results"] = []
    for i, epoch in enumerate(result["timestamp"]):
        day = pd.Timestamp(epoch, unit="s", tz="UTC").tz_convert("America/New_York").normalize()
        t = day + pd.Timedelta(hours=stamp_hour)
        body["results"].append({"v": quote["volume"][i], "o": quote["open"][i], "c": quote["close"][i],
                                "h": quote["high"][i], "l": quote["low"][i], "t": int(t.timestamp() * 1000)})
    return body


@pytest.mark.parametrize(("ticker", "stamp_hour"), [("AAPL", 0), ("I:NDX", 1)], ids=["stock-00h", "index-01h"])
def test_polygon_and_yahoo_label_the_same_daily_bars_alike_whatever_polygon_stamps(ticker, stamp_hour):
    from marketdata_assets.sources.http.yahoo import parse_chart

    yahoo_body = load_json("yahoo/chart-AAPL-2020-08-31-to-2020-11-07.json")["response"]["bodyJson"]
    yahoo = parse_chart(yahoo_body, "1d")  # 49 sessions stamped 09:30 New York, across the November DST change

    polygon = parse_aggs(_as_polygon_aggs(yahoo_body, ticker, stamp_hour), "1d")

    assert len(polygon) == len(yahoo) == 49
    assert polygon["ts"].tolist() == yahoo["ts"].tolist()
    assert {t.tz_convert("America/New_York").hour for t in polygon["ts"]} == {0}  # local midnight, EDT and EST


def test_polygon_crypto_daily_bars_keep_their_utc_days():
    body = {**load_json(AGGS), "ticker": "X:BTCUSD"}
    body["results"] = [{**r, "t": 1704326400000 + i * 86_400_000} for i, r in enumerate(body["results"])]

    bars = parse_aggs(body, "1d")

    assert bars["ts"].tolist() == [pd.Timestamp("2024-01-04", tz="UTC"), pd.Timestamp("2024-01-05", tz="UTC")]
