"""Trading dates and sessions of every market family, across DST changes."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from marketdata_assets.model.sessions import _market_from, get_market, market_for_instrument


def us(*stamps: str) -> np.ndarray:
    return pd.to_datetime(list(stamps), format="ISO8601").tz_localize("UTC").as_unit("us").asi8


def test_cme_trading_date_rolls_at_17_chicago_and_halts_16_to_17():
    cme = get_market("CME")
    ts = us("2024-03-07 22:59", "2024-03-07 23:00", "2024-03-08 21:59", "2024-03-08 22:30")

    dates = cme.trading_dates(ts).astype(str).tolist()
    open_ = cme.in_session(ts).tolist()

    # 16:59 CST Thu → Thu; 17:00 CST Thu → Fri; 15:59 Fri → Fri; 16:30 Fri = closed
    assert dates == ["2024-03-07", "2024-03-08", "2024-03-08", "2024-03-08"]
    assert open_ == [False, True, True, False]  # 16:59 CST is inside the daily halt


def test_cme_session_has_23_hours_on_both_sides_of_dst_and_shifts_in_utc():
    cme = get_market("CME")

    before = cme.session_bounds_us(date(2024, 3, 8))
    after = cme.session_bounds_us(date(2024, 3, 11))

    assert [(hi - lo) // 3_600_000_000 for lo, hi in before + after] == [23, 23]
    assert str(pd.Timestamp(before[0][0], unit="us")) == "2024-03-07 23:00:00"   # 17:00 CST
    assert str(pd.Timestamp(after[0][0], unit="us")) == "2024-03-10 22:00:00"    # 17:00 CDT


def test_weekends_and_holidays_are_closed():
    cme, nyse = get_market("CME"), get_market("NYSE")

    assert cme.session_bounds_us(date(2024, 3, 9)) == []                        # Saturday
    assert cme.session_bounds_us(date(2024, 3, 29)) == []                       # Good Friday
    assert nyse.is_trading_day(date(2024, 7, 4)) is False
    assert len(cme.open_minutes_us(date(2024, 3, 11))) == 23 * 60


def test_nyse_regular_and_extended_hours():
    nyse = get_market("NYSE")
    ts = us("2024-03-11 08:30", "2024-03-11 13:30", "2024-03-11 23:59", "2024-03-12 00:30")  # EDT

    assert nyse.in_session(ts).tolist() == [True, True, True, False]
    assert nyse.in_session(ts, extended=False).tolist() == [False, True, False, False]
    assert nyse.trading_dates(ts).astype(str).tolist() == ["2024-03-11"] * 4  # 00:30 UTC = 20:30 EDT


def test_fx_runs_sunday_17_to_friday_17_new_york():
    fx = get_market("FOREX_MARKET")
    ts = us("2024-03-10 20:59", "2024-03-10 21:00", "2024-03-15 20:59", "2024-03-15 21:00")

    assert fx.in_session(ts).tolist() == [False, True, True, False]
    assert fx.trading_dates(ts).astype(str).tolist()[1:3] == ["2024-03-11", "2024-03-15"]


def test_crypto_trades_every_day_on_utc_dates():
    crypto = get_market("BINANCE")
    ts = us("2024-03-09 00:00", "2024-03-10 23:59:59")

    assert crypto.in_session(ts).all()
    assert crypto.trading_dates(ts).astype(str).tolist() == ["2024-03-09", "2024-03-10"]


@pytest.mark.parametrize("day, hours", [(date(2024, 3, 10), 23), (date(2024, 11, 3), 25), (date(2024, 3, 9), 24)])
def test_a_local_day_spanning_a_dst_change_has_its_true_length(day, hours):
    chicago_day = _market_from({
        "code": "T", "name": "t", "asset_class": "X", "timezone": "America/Chicago", "day_start": "00:00",
        "sessions": [{"name": "all", "start": "00:00", "end": "00:00"}], "weekdays": list(range(7)), "holidays": [],
    })

    lo, hi = chicago_day.window_us(day)

    assert (hi - lo) // 3_600_000_000 == hours


def test_instruments_map_to_their_markets_with_overrides():
    assert market_for_instrument("ESH24").code == "CME"
    assert market_for_instrument("ESM25_FUT_CME").code == "CME"
    assert market_for_instrument("CLJ24").code == "NYMEX"
    assert market_for_instrument("GCJ24_FUT_COMEX").code == "COMEX"
    assert market_for_instrument("ZNM24").code == "CBOT"
    assert market_for_instrument("EURUSD").code == "FOREX_MARKET"
    assert market_for_instrument("BTCUSDT").code == "BINANCE"
    assert market_for_instrument("AAPL").code == "NASDAQ"
    assert market_for_instrument("NAS100").code == "CME"                       # package override
    assert market_for_instrument("AAPL", {"AAPL": "NYSE"}).code == "NYSE"      # settings override
