"""Twelve Data: recorded bodies → bars equal to the JSON, exchange zone → UTC; the
``status: error`` shapes → typed errors; "no data" → empty frame."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pandas as pd
import pytest

from marketdata_assets.errors import RateLimited
from marketdata_assets.sources.http.client import AuthenticationFailed, ProviderError
from marketdata_assets.sources.http.twelvedata import TwelveDataProvider, parse_profile, parse_time_series

from .helpers import load_json, provider_on

RECORDED = [
    ("twelvedata/batch_time_series.json", "AAPL", "1d"),
    ("twelvedata/batch_time_series.json", "MSFT", "1d"),
    ("twelvedata/batch_multi.json", "ts_aapl", "1m"),
    ("twelvedata/batch_error.json", "AAPL", "1d"),
]


@pytest.mark.parametrize(("path", "key", "timeframe"), RECORDED)
def test_recorded_time_series_parses_to_the_json_values_in_utc(path, key, timeframe):
    body = load_json(path)[key]
    tz = ZoneInfo(body["meta"]["exchange_timezone"])
    values = sorted(body["values"], key=lambda v: v["datetime"])

    bars = parse_time_series(body, timeframe, request="r")

    assert bars["ts"].tolist() == [
        pd.Timestamp(datetime.fromisoformat(v["datetime"]).replace(tzinfo=tz)).tz_convert("UTC") for v in values
    ]
    for col in ("open", "high", "low", "close", "volume"):
        assert bars[col].tolist() == [float(v[col]) for v in values]


def test_minute_value_in_new_york_time_is_stored_in_utc():
    bars = parse_time_series(load_json("twelvedata/batch_multi.json")["ts_aapl"], "1m")

    assert bars["ts"].tolist() == [pd.Timestamp("2024-11-22 20:59", tz="UTC")]


def test_recorded_error_entry_is_a_provider_error():
    with pytest.raises(ProviderError, match="symbol"):
        parse_time_series(load_json("twelvedata/batch_error.json")["INVALID"], "1d")


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, {"code": 429, "message": "You have run out of API credits for the current minute.", "status": "error"},
         RateLimited),
        (429, {"code": 429, "message": "You have run out of API credits for the current minute.", "status": "error"},
         RateLimited),
        (401, {"code": 401, "message": "**apikey** parameter is incorrect or not specified.", "status": "error"},
         AuthenticationFailed),
        (200, load_json("twelvedata/batch_error.json")["INVALID"], ProviderError),
    ],
    ids=["429-in-band", "429-http", "401", "400-unknown-symbol"],
)
def test_error_shapes_raise_typed_errors(status, body, error):
    provider = provider_on(TwelveDataProvider, lambda r: httpx.Response(status, json=body))

    with pytest.raises(error):
        provider.fetch_bars("AAPL", "1m", datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC))


def test_no_data_answer_is_an_empty_frame():
    body = {"code": 400, "message": "No data is available on the specified dates. Try setting different start/end dates.",
            "status": "error"}
    provider = provider_on(TwelveDataProvider, lambda r: httpx.Response(200, json=body))

    bars = provider.fetch_bars("AAPL", "1m", datetime(2024, 1, 6, tzinfo=UTC), datetime(2024, 1, 7, tzinfo=UTC))

    assert bars.empty


def test_range_is_padded_a_day_each_side_and_cut_exactly_in_utc():
    seen: list[httpx.Request] = []
    body = load_json("twelvedata/batch_time_series.json")["AAPL"]  # 2024-11-22 → 05:00Z
    provider = provider_on(TwelveDataProvider, lambda r: httpx.Response(200, json=body), seen=seen)

    inside = provider.fetch_bars("AAPL", "1d", datetime(2024, 11, 22, tzinfo=UTC), datetime(2024, 11, 23, tzinfo=UTC))
    outside = provider.fetch_bars("AAPL", "1d", datetime(2024, 11, 22, 6, tzinfo=UTC), datetime(2024, 11, 23, tzinfo=UTC))

    assert seen[0].url.params["start_date"] == "2024-11-21 00:00:00"
    assert seen[0].url.params["end_date"] == "2024-11-24 00:00:00"
    assert len(inside) == 1 and outside.empty


def test_recorded_profile_normalizes_to_the_common_keys():
    body = load_json("twelvedata/profile.json")

    meta = parse_profile(body)

    assert meta == {"name": body["name"], "sector": body["sector"], "industry": body["industry"],
                    "exchange": body["exchange"], "description": body["description"], "asset_type": body["type"]}
