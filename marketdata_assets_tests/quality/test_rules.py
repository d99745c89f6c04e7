"""Each injected corruption is caught by its named rule with the exact count; blocking
rules quarantine, warn rules keep the row; kept + quarantined = input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketdata_assets.transforms.quality import assess_bars, assess_ticks

from .helpers import BAR_INSTRUMENT, DAY, insert_duplicates, partition, spread_out, swap_ts, trade_positions

ES_TICK = 0.25
GC_TICK = 0.1


@pytest.fixture()
def es(sample):
    market, ticks, _ = sample["ESH24"]
    return market, partition(ticks, DAY)


@pytest.fixture()
def gc(sample):
    market, _, bars = sample[BAR_INSTRUMENT]
    return market, partition(bars, DAY)


def flagged(report) -> dict[str, int]:
    return {name: n for name, n in report.rule_counts.items() if n}


def assert_identity(report, n_in):
    assert len(report.kept) + len(report.quarantined) == n_in == report.rows_in


def test_nan_and_negative_trade_prices_are_quarantined_as_not_finite_positive(es):
    market, ticks = es
    rows = spread_out(trade_positions(ticks), 5)
    ticks.loc[rows[:3], "price"] = np.nan
    ticks.loc[rows[3:], "price"] = -ticks.loc[rows[3:], "price"]

    report = assess_ticks(ticks, market, DAY, ES_TICK)

    assert flagged(report) == {"price_not_finite_positive": 5}
    assert sorted(report.quarantined["source_offset"]) == sorted(ticks.loc[rows, "source_offset"])
    assert set(report.quarantined["reason"]) == {"price_not_finite_positive"}
    assert_identity(report, len(ticks))


def test_crossed_quotes_are_quarantined_as_bid_above_ask(es):
    market, ticks = es
    rows = spread_out(np.arange(len(ticks)), 4)
    ticks.loc[rows, ["bid", "ask"]] = ticks.loc[rows, ["ask", "bid"]].to_numpy()

    report = assess_ticks(ticks, market, DAY, ES_TICK)

    assert flagged(report) == {"bid_above_ask": 4}
    assert len(report.quarantined) == 4
    assert_identity(report, len(ticks))


def test_duplicated_records_are_quarantined_once_and_the_original_kept(es):
    market, ticks = es
    rows = spread_out(np.arange(len(ticks)), 3)
    dup = insert_duplicates(ticks, rows)

    report = assess_ticks(dup, market, DAY, ES_TICK)

    assert flagged(report) == {"duplicate_ts": 3, "duplicate_record": 3, "ts_not_increasing": 3}
    assert set(report.quarantined["reason"]) == {"duplicate_ts;duplicate_record"}
    assert len(report.kept) == len(ticks)
    assert_identity(report, len(dup))


def test_out_of_order_records_are_kept_with_a_lower_score(es):
    market, ticks = es
    rows = spread_out(np.arange(len(ticks)), 3)
    moved = swap_ts(ticks, rows)

    report = assess_ticks(moved, market, DAY, ES_TICK)

    assert flagged(report) == {"out_of_order": 3, "ts_not_increasing": 3}
    assert report.quarantined.empty
    back = report.kept["source_offset"].isin(moved.loc[rows + 1, "source_offset"]).to_numpy()
    assert np.allclose(report.kept["quality_score"][back], 0.7)
    assert np.all(report.kept["quality_score"][~back] == 1.0)


def test_off_grid_prices_and_quotes_are_quarantined(es):
    market, ticks = es
    trades = spread_out(trade_positions(ticks), 3)
    quotes = spread_out(np.flatnonzero(ticks["kind"].to_numpy() == "quote"), 2)
    ticks.loc[trades, "price"] += 0.1
    ticks.loc[quotes, "bid"] -= 0.05

    report = assess_ticks(ticks, market, DAY, ES_TICK)

    assert flagged(report) == {"price_off_grid": 5}
    assert set(report.quarantined["reason"]) == {"price_off_grid"}


def test_float32_stored_fx_prices_are_on_a_finer_grid(sample):
    market, ticks, _ = sample["EURUSD"]
    part = partition(ticks, DAY)
    for tick in (0.00001, 0.00005):
        report = assess_ticks(part, market, DAY, tick)
        assert report.rule_counts["price_off_grid"] == 0


def test_ticks_stamped_in_the_cme_daily_halt_are_outside_session(es):
    market, ticks = es
    halt = pd.Timestamp("2024-03-08 16:30", tz="America/Chicago").tz_convert("UTC")
    last = len(ticks) - 2  # at the end, so time order is kept
    ticks.loc[last:, "ts"] = [halt, halt + pd.Timedelta(minutes=1)]

    report = assess_ticks(ticks, market, DAY, ES_TICK)

    assert flagged(report) == {"outside_session": 2}
    assert set(report.quarantined["reason"]) == {"outside_session"}


def test_null_keys_are_quarantined_by_name(es):
    market, ticks = es
    rows = spread_out(np.flatnonzero(ticks["kind"].to_numpy() == "quote"), 2)
    ticks["kind"] = ticks["kind"].astype(object)
    ticks.loc[rows, "kind"] = None

    report = assess_ticks(ticks, market, DAY, ES_TICK)

    assert flagged(report) == {"null_kind": 2}
    assert set(report.quarantined["reason"]) == {"null_kind"}


def test_bars_with_high_below_low_are_quarantined(gc):
    market, bars = gc
    rows = spread_out(np.arange(len(bars)), 2)
    bars.loc[rows, "high"] = bars.loc[rows, "low"] - 0.5

    report = assess_bars(bars, market, DAY, GC_TICK)

    assert flagged(report) == {"high_below_low": 2, "high_below_open_close": 2}
    assert set(report.quarantined["reason"]) == {"high_below_open_close;high_below_low"}
    assert_identity(report, len(bars))


def test_bar_corruptions_each_hit_their_rule(gc):
    market, bars = gc
    o, h, lo, c = (bars[k].to_numpy() for k in ("open", "high", "low", "close"))
    roomy = np.flatnonzero((np.maximum(o, c) - lo > 0.25) & (h - np.minimum(o, c) > 0.25))
    r = spread_out(np.arange(len(bars)), 3)
    r3, r5 = spread_out(roomy, 2, start=10)
    bars.loc[r[0], "close"] = np.inf
    bars.loc[r[1], "volume"] = -5
    bars.loc[r[2], "volume"] = 0
    bars.loc[r3, "low"] = min(o[r3], c[r3]) + 0.1        # low above the body
    bars.loc[r3 + 1, "open"] += 0.05                      # off grid
    bars.loc[r5, "high"] = max(o[r5], c[r5]) - 0.1       # high below the body

    report = assess_bars(bars, market, DAY, GC_TICK)

    assert flagged(report) == {"price_not_finite_positive": 1, "volume_negative": 1, "bar_volume_zero": 1,
                               "low_above_open_close": 1, "price_off_grid": 1, "high_below_open_close": 1}
    assert len(report.quarantined) == 5
    zero = report.kept["volume"].to_numpy() == 0
    assert np.allclose(report.kept["quality_score"][zero], 0.7)
    assert_identity(report, len(bars))


def test_every_clean_sample_partition_is_kept_whole_with_score_one(sample):
    from marketdata_assets.model.contracts import grid_tick_size
    from marketdata_assets.testkit.sierra_sample import SAMPLE_DATES

    for inst, (market, ticks, bars) in sample.items():
        for day in SAMPLE_DATES:
            frame = partition(bars if inst == BAR_INSTRUMENT else ticks, day)
            assess = assess_bars if inst == BAR_INSTRUMENT else assess_ticks

            report = assess(frame, market, day, grid_tick_size(inst))

            assert flagged(report) == {}, (inst, day)
            assert len(report.kept) == len(frame) > 0
            assert report.partition_score == 1.0
