"""The Great Expectations suites count exactly what the numpy routing masks count."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from marketdata_assets.testkit.sierra_sample import SAMPLE_DATES
from marketdata_assets.transforms.expectations import (
    BAR_RULES,
    BLOCKING,
    EXPECTATION_TABLE,
    TICK_RULES,
    WARN,
    evidence_rows,
    run_bar_expectations,
    run_expectations,
    run_tick_expectations,
    severity_table_markdown,
)
from marketdata_assets.transforms.quality import (
    assess_bars,
    assess_ticks,
    bar_rule_masks,
    expectation_masks,
    tick_rule_masks,
)

from .helpers import BAR_INSTRUMENT, DAY, TICK_INSTRUMENTS, corrupt_bars, corrupt_ticks, partition

ES_TICK = 0.25
GC_TICK = 0.1


def assert_gx_equals_masks(outcomes, frame, masks):
    expected = expectation_masks(frame, masks)
    for o in outcomes:
        if o.name == "row_count":
            assert o.success and o.observed == {"observed_value": len(frame)}
            continue
        assert o.unexpected_count == int(expected[o.name].sum()), o.name
        assert o.unexpected_count > 0, f"{o.name}: the corruption did not reach this rule"
        assert not o.success
        assert o.element_count == len(frame)


def test_tick_suite_counts_equal_numpy_masks_on_corrupted_ticks(sample, gx):
    market, ticks, _ = sample["ESH24"]
    bad = corrupt_ticks(partition(ticks, DAY))

    outcomes = run_tick_expectations(bad, market, DAY, ES_TICK, runner=gx)

    assert [o.name for o in outcomes] == list(TICK_RULES)
    masks = tick_rule_masks(bad, market, DAY, ES_TICK)
    masks.pop("null_instrument"), masks.pop("null_ts"), masks.pop("null_trading_date"), masks.pop("null_size")
    assert_gx_equals_masks([o for o in outcomes if o.name in masks or o.name == "row_count"], bad, masks)
    assert expectation_masks(bad, masks)["duplicate_ts"].sum() == 2 * masks["duplicate_ts"].sum()


def test_bar_suite_counts_equal_numpy_masks_on_corrupted_bars(sample, gx):
    market, _, bars = sample[BAR_INSTRUMENT]
    bad = corrupt_bars(partition(bars, DAY))

    outcomes = run_bar_expectations(bad, market, DAY, GC_TICK, runner=gx)

    assert [o.name for o in outcomes] == list(BAR_RULES)
    masks = bar_rule_masks(bad, market, DAY, GC_TICK)
    clean = {"null_instrument", "null_ts", "null_open", "null_high", "null_low", "null_volume"}
    assert_gx_equals_masks([o for o in outcomes if o.name not in clean], bad, masks)
    assert all(o.success and o.unexpected_count == 0 for o in outcomes if o.name in clean)


def test_null_keys_are_counted_alike_by_gx_and_masks(sample, gx):
    market, ticks, _ = sample["CLJ24"]
    bad = partition(ticks, DAY)
    bad["instrument"] = bad["instrument"].astype(object)
    bad.loc[[10, 20], "instrument"] = None
    bad.loc[[30], "size"] = np.nan
    bad.loc[[40, 50, 60], "trading_date"] = pd.NaT

    outcomes = {o.name: o for o in run_tick_expectations(bad, market, DAY, 0.01, runner=gx)}

    masks = expectation_masks(bad, tick_rule_masks(bad, market, DAY, 0.01))
    for name, n in {"null_instrument": 2, "null_size": 1, "null_trading_date": 3}.items():
        assert outcomes[name].unexpected_count == masks[name].sum() == n
    assert outcomes["wrong_trading_date"].unexpected_count == 0  # GX skips nulls; routing names them null_*


def test_clean_sample_passes_every_expectation(sample, gx):
    for inst in (*TICK_INSTRUMENTS, BAR_INSTRUMENT):
        market, ticks, bars = sample[inst]
        for day in SAMPLE_DATES:
            if inst == BAR_INSTRUMENT:
                report = assess_bars(partition(bars, day), market, day, GC_TICK, run_gx=True, runner=gx)
            else:
                from marketdata_assets.model.contracts import grid_tick_size

                report = assess_ticks(partition(ticks, day), market, day, grid_tick_size(inst),
                                      run_gx=True, runner=gx)
            failed = [o for o in report.expectations if not o.success]
            assert failed == [], (inst, day)
            assert report.failed_blocking == []


def test_without_an_enforced_grid_the_grid_expectation_is_left_out(sample, gx):
    market, ticks, _ = sample["ESH24"]

    outcomes = run_tick_expectations(partition(ticks, DAY), market, DAY, None, runner=gx)

    assert "price_off_grid" not in {o.name for o in outcomes}


def test_assess_reports_blocking_gx_failures(sample, gx):
    market, ticks, _ = sample["ESH24"]
    bad = corrupt_ticks(partition(ticks, DAY))

    report = assess_ticks(bad, market, DAY, ES_TICK, run_gx=True, runner=gx)

    failed = {o.name for o in report.failed_blocking}
    assert "bid_above_ask" in failed and "ts_not_increasing" not in failed
    assert {"rules", "gx"} <= set(report.seconds)


def test_every_rule_has_a_severity_and_a_reason():
    for rule in {*TICK_RULES, *BAR_RULES}:
        severity, why = EXPECTATION_TABLE[rule]
        assert severity in (BLOCKING, WARN) and len(why) > 20
    table = severity_table_markdown()
    assert table.count("\n") == len(EXPECTATION_TABLE) + 1


def test_quality_modules_do_not_import_great_expectations():
    code = ("import sys, marketdata_assets.transforms.quality, marketdata_assets.transforms.gaps;"
            "sys.exit('great_expectations' in sys.modules)")

    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


@pytest.mark.parametrize("rules", [TICK_RULES, BAR_RULES])
def test_suites_have_no_duplicate_rules(rules):
    assert len(set(rules)) == len(rules)


def test_the_suite_on_the_evidence_rows_counts_what_it_counts_on_the_whole_partition(sample, gx):
    market, ticks, _ = sample["ESH24"]
    bad = corrupt_ticks(partition(ticks, DAY))
    masks = tick_rule_masks(bad, market, DAY, ES_TICK)
    rows = evidence_rows(expectation_masks(bad, masks), len(bad), sample=50)

    whole = run_expectations(bad, "ticks", masks, DAY, runner=gx)
    narrow = run_expectations(bad, "ticks", masks, DAY, runner=gx, rows=rows)

    assert rows is not None and len(rows) < len(bad) // 2
    assert [(o.name, o.success, o.unexpected_count, o.element_count) for o in narrow] == \
        [(o.name, o.success, o.unexpected_count, o.element_count) for o in whole]
    assert [o.observed.get("unexpected_percent") for o in narrow] == \
        [o.observed.get("unexpected_percent") for o in whole]
