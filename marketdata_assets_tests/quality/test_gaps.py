"""Missing 1m bars versus the session calendar: halts, weekends and holidays are not gaps."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from marketdata_assets.model.sessions import MIN_US, Market, Session, get_market
from marketdata_assets.testkit.sierra_sample import SAMPLE_DATES
from marketdata_assets.transforms.gaps import GAP_COLUMNS, expected_bar_starts, find_gaps
from marketdata_assets.transforms.normalize import ts_us

from .helpers import BAR_INSTRUMENT, DAY, partition


@pytest.fixture()
def gc(sample):
    market, _, bars = sample[BAR_INSTRUMENT]
    return market, ts_us(partition(bars, DAY)["ts"])


def utc(local: str) -> pd.Timestamp:
    return pd.Timestamp(local, tz="America/Chicago").tz_convert("UTC")


def test_the_clean_gc_bar_file_has_no_gaps_on_any_date(sample):
    market, _, bars = sample[BAR_INSTRUMENT]
    for day in SAMPLE_DATES:
        assert find_gaps(ts_us(partition(bars, day)["ts"]), market, day).empty, day


def test_removed_minutes_are_reported_as_runs_with_exact_counts(gc):
    market, ts = gc
    drop = np.r_[100:105, 500, 900:930]

    gaps = find_gaps(np.delete(ts, drop), market, DAY)

    assert list(gaps.columns) == GAP_COLUMNS
    assert gaps["missing_bars"].tolist() == [5, 1, 30]
    assert gaps["gap_start"].tolist() == pd.to_datetime(ts[[100, 500, 900]], unit="us", utc=True).tolist()
    assert gaps["gap_end"].tolist() == pd.to_datetime(ts[[104, 500, 929]] + MIN_US, unit="us", utc=True).tolist()
    assert str(gaps["gap_start"].dtype) == "datetime64[us, UTC]"


def test_min_missing_hides_short_runs_of_a_thin_market(gc):
    market, ts = gc

    gaps = find_gaps(np.delete(ts, np.r_[100:105, 500, 900:930]), market, DAY, min_missing=5)

    assert gaps["missing_bars"].tolist() == [5, 30]


def test_the_cme_daily_halt_is_not_a_gap_but_the_minute_before_it_is(gc):
    market, ts = gc
    assert utc("2024-03-08 15:59") == pd.Timestamp(ts[-1], unit="us", tz="UTC")
    assert utc("2024-03-07 17:00") == pd.Timestamp(ts[0], unit="us", tz="UTC")

    gaps = find_gaps(ts[:-1], market, DAY)

    assert len(gaps) == 1 and gaps["missing_bars"].iloc[0] == 1
    assert gaps["gap_end"].iloc[0] == utc("2024-03-08 16:00")  # the halt (16:00-17:00 CT) is not included


def test_a_day_across_the_dst_change_expects_23_hours_of_minutes():
    cme = get_market("CME")

    assert len(expected_bar_starts(cme, date(2024, 3, 11))) == 23 * 60  # Sunday 17:00 CDT start
    assert len(expected_bar_starts(cme, date(2024, 3, 8))) == 23 * 60


@pytest.mark.parametrize("day", [date(2024, 3, 29), date(2024, 12, 25), date(2024, 3, 9), date(2024, 3, 10)])
def test_holidays_and_weekends_have_no_gaps_even_without_bars(day):
    cme = get_market("CME")

    assert find_gaps(np.empty(0, np.int64), cme, day).empty


def test_a_missing_trading_day_is_one_gap_of_the_whole_session():
    cme = get_market("CME")

    gaps = find_gaps(np.empty(0, np.int64), cme, DAY)

    assert gaps["missing_bars"].tolist() == [23 * 60]
    assert gaps["gap_start"].iloc[0] == utc("2024-03-07 17:00")
    assert gaps["gap_end"].iloc[0] == utc("2024-03-08 16:00")


def test_gaps_of_5m_bars_count_missing_5m_buckets(gc):
    market, ts = gc
    five = np.unique(ts - (ts - ts[0]) % (5 * MIN_US))

    gaps = find_gaps(np.delete(five, [10, 11]), market, DAY, timeframe="5m")

    assert gaps["missing_bars"].tolist() == [2]
    assert gaps["gap_end"].iloc[0] - gaps["gap_start"].iloc[0] == pd.Timedelta(minutes=10)


def test_a_run_of_missing_bars_is_split_at_a_lunch_break():
    tokyo = Market(code="TEST", name="lunch-break market", asset_class="STOCK", timezone="Asia/Tokyo",
                   day_start=0, sessions=(Session("am", 540, 690, "regular"), Session("pm", 750, 900, "regular")),
                   weekdays=frozenset(range(5)), holidays=frozenset())

    gaps = find_gaps(np.empty(0, np.int64), tokyo, DAY)

    assert gaps["missing_bars"].tolist() == [150, 150]
    assert gaps["gap_end"].iloc[0] == pd.Timestamp("2024-03-08 11:30", tz="Asia/Tokyo")
    assert gaps["gap_start"].iloc[1] == pd.Timestamp("2024-03-08 12:30", tz="Asia/Tokyo")


def test_bad_arguments_are_refused(gc):
    market, ts = gc
    with pytest.raises(ValueError, match="min_missing"):
        find_gaps(ts, market, DAY, min_missing=0)
    with pytest.raises(ValueError, match="intraday"):
        find_gaps(ts, market, DAY, timeframe="1d")
