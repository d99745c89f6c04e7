"""validated_ticks through Dagster: one asset check per rule, exact counts of injected
corruptions, blocking checks that stop downstream assets, reconciliation per partition."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
import pytest

from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.demo import summary
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets.testkit.sierra_sample import SAMPLE_DATES
from marketdata_assets.transforms.expectations import EXPECTATION_TABLE
from marketdata_assets_tests.quality.helpers import (
    BAR_INSTRUMENT,
    DAY,
    corrupt_bars,
    corrupt_ticks,
    load_sample,
    partition,
)

from .quality_support import (
    ASSETS,
    evaluations,
    failing_rows,
    materialize,
    raw_from_bars,
    raw_from_ticks,
    stored_checks,
    write_raw,
)

INST = "ESH24"
DEFS = dg.Definitions(assets=ASSETS, resources={"warehouse": WarehouseResource(), "sierra": SierraResource()})
RULE_CHECKS = set(EXPECTATION_TABLE)
ALL_CHECKS = RULE_CHECKS | {"quarantined_share", "bad_ticks"}
TICK_COUNTS = {"price_not_finite_positive": 3, "size_negative": 1, "bid_ask_not_finite": 2, "bid_above_ask": 2,
               "outside_session": 1, "duplicate_ts": 2, "price_off_grid": 2, "ts_not_increasing": 4,
               "trade_side_missing": 2}   # the injected one + the size -3 trade (its volumes tell no side)
BAR_COUNTS = {"null_close": 1, "price_not_finite_positive": 3, "high_below_open_close": 1, "low_above_open_close": 1,
              "high_below_low": 2, "volume_negative": 1, "outside_session": 1, "duplicate_ts": 2, "price_off_grid": 1,
              "ts_not_increasing": 3, "bar_volume_zero": 1}


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture(scope="module")
def corrupted(tmp_path_factory):
    """(raw_ticks rows of ESH24 and of the GC bar file on DAY, every corruption of the quality
    helpers applied) — except the two a loader cannot write: a NULL kind and a row of
    another trading date (raw_ticks has NOT NULL kind; a partition holds only its date)."""
    sample = load_sample(tmp_path_factory.mktemp("sample"))
    ticks = corrupt_ticks(partition(sample[INST][1], DAY))
    ticks["kind"] = ticks["kind"].fillna("quote")
    bars = corrupt_bars(partition(sample[BAR_INSTRUMENT][2], DAY))
    return (raw_from_ticks(ticks.assign(trading_date=str(DAY))),
            raw_from_bars(bars.assign(trading_date=str(DAY))))


def assert_counts(checks: dict, expected: dict[str, int]) -> None:
    got = {name: failing_rows(e) for name, e in checks.items() if name in RULE_CHECKS and name != "row_count"}
    assert {k: v for k, v in got.items() if v} == expected


def test_tick_corruptions_are_caught_by_their_named_checks(instance, corrupted, warehouse_url):
    write_raw(warehouse_url, "raw_ticks", corrupted[0], INST, DAY)

    result = materialize(instance, warehouse_url, DAY, INST, ["validated_ticks", "ohlc_bars"])

    assert result.success
    checks = evaluations(result, "validated_ticks")
    assert set(checks) == ALL_CHECKS
    assert_counts(checks, TICK_COUNTS)
    warned = {n for n, e in checks.items() if not e.passed}
    assert warned == {"ts_not_increasing", "trade_side_missing", "bad_ticks"}   # blocking ones stay under 1 %
    assert all(checks[n].severity == dg.AssetCheckSeverity.WARN for n in warned)
    assert checks["duplicate_ts"].metadata["gx_unexpected_count"].value == 4      # GX counts both members
    assert checks["price_not_finite_positive"].metadata["gx_unexpected_count"].value == 3
    assert checks["quarantined_share"].metadata["quarantined"].value == 12
    assert checks["bad_ticks"].metadata["flags"].data["duplicate_record"] == 2
    assert checks["outside_session"].description == "1 of 4002 rows quarantined (0.02% ≤ 1.00%)"
    stored = stored_checks(instance, "validated_ticks", DAY, INST)
    assert {n: (e.passed, e.severity) for n, e in stored.items()} == \
        {n: (e.passed, e.severity) for n, e in checks.items()}
    assert_counts(stored, TICK_COUNTS)
    with open_warehouse(warehouse_url) as wh:
        q = wh.read("quarantine", partition_scope(INST, DAY))
        kept = wh.read("ticks", partition_scope(INST, DAY))
    assert len(q) == 12 and len(kept) + len(q) == 4002
    assert set(q["stage"]) == {"validated_ticks"} and q["source_offset"].notna().all()
    assert Counter(r for reason in q["reason"] for r in reason.split(";")) == Counter(
        {"price_not_finite_positive": 3, "price_off_grid": 2, "duplicate_ts": 2, "duplicate_record": 2,
         "bid_ask_not_finite": 2, "bid_above_ask": 2, "size_negative": 1, "outside_session": 1})
    assert kept["quality_score"].between(0, 1).all() and (kept["quality_score"] < 1).sum() > 0
    meta = result.asset_materializations_for_node("validated_ticks")[0].metadata
    assert meta["reconciliation"].value == "raw 4002 = kept 3990 + quarantined 12"
    assert 0.99 < meta["partition_score"].value < 1.0


def test_bar_corruptions_are_caught_by_their_named_checks(instance, corrupted, warehouse_url):
    write_raw(warehouse_url, "raw_ticks", corrupted[1], BAR_INSTRUMENT, DAY)

    result = materialize(instance, warehouse_url, DAY, BAR_INSTRUMENT, ["validated_ticks", "ohlc_bars"])

    assert result.success
    checks = stored_checks(instance, "validated_ticks", DAY, BAR_INSTRUMENT)
    assert_counts(checks, BAR_COUNTS)
    assert {n for n, e in checks.items() if not e.passed} == {"ts_not_increasing", "bar_volume_zero", "bad_ticks"}
    assert checks["quarantined_share"].metadata["quarantined"].value == 10
    assert checks["bid_above_ask"].metadata["applies_to"].value == "-"   # a tick rule on a bar file
    with open_warehouse(warehouse_url) as wh:
        assert wh.count("base_bars", {**partition_scope(BAR_INSTRUMENT, DAY), "origin": "sierra"}) == 1372
        assert wh.count("quarantine", partition_scope(BAR_INSTRUMENT, DAY)) == 10


def test_failed_blocking_checks_stop_ohlc_bars_in_the_run_and_in_automation(instance, corrupted, tmp_path):
    url = f"sqlite:///{tmp_path}/wh.db"
    write_raw(url, "raw_ticks", corrupted[0], INST, DAY)
    strict = {"ops": {"validated_ticks": {"config": {"max_quarantined_share": 0.0001}}}}
    at = datetime(2024, 3, 8, 20, 0, tzinfo=UTC)
    tick = dg.evaluate_automation_conditions(defs=DEFS, instance=instance, evaluation_time=at)

    result = materialize(instance, url, DAY, INST, ["validated_ticks", "ohlc_bars"], run_config=strict)

    assert not result.success
    failed = {n for n, e in evaluations(result, "validated_ticks").items()
              if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR}
    assert failed == {"price_not_finite_positive", "size_negative", "bid_ask_not_finite", "bid_above_ask",
                      "outside_session", "duplicate_ts", "price_off_grid", "quarantined_share"}
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert "blocking asset checks failed" in error.message
    assert result.asset_materializations_for_node("validated_ticks")      # recorded, data written
    assert result.is_node_untouched("ohlc_bars")                          # never started
    with open_warehouse(url) as wh:
        assert wh.count("quarantine") == 12 and wh.count("ohlc_bars") == 0
    key = "2024-03-08|ESH24"
    tick = dg.evaluate_automation_conditions(defs=DEFS, instance=instance, cursor=tick.cursor,
                                             evaluation_time=at.replace(minute=1))
    assert key not in tick.get_requested_partitions(dg.AssetKey("ohlc_bars"))   # plain eager() would ask

    assert materialize(instance, url, DAY, INST, ["validated_ticks"]).success   # default max_share: passes
    tick = dg.evaluate_automation_conditions(defs=DEFS, instance=instance, cursor=tick.cursor,
                                             evaluation_time=at.replace(minute=2))
    assert tick.get_requested_partitions(dg.AssetKey("ohlc_bars")) == {key}


def test_clean_sample_passes_every_check_and_reconciles_every_partition(instance, sample_dir, warehouse_url):
    parts = [(day, inst) for inst in (INST, BAR_INSTRUMENT) for day in SAMPLE_DATES]
    for day, inst in parts:
        result = materialize(instance, warehouse_url, day, inst, ["sierra_ticks", "validated_ticks", "ohlc_bars"],
                             data_dir=sample_dir)
        assert result.success
        checks = evaluations(result, "validated_ticks")
        assert set(checks) == ALL_CHECKS
        assert [n for n, e in checks.items() if not e.passed] == []
        assert stored_checks(instance, "validated_ticks", day, inst).keys() == ALL_CHECKS
        assert all(e.passed for e in stored_checks(instance, "validated_ticks", day, inst).values())
        assert result.asset_materializations_for_node("validated_ticks")[0].metadata["partition_score"].value == 1.0

    with open_warehouse(warehouse_url) as wh:
        _, recon, _ = summary(wh)
        assert wh.count("quarantine") == 0
    assert len(recon) == len(parts)
    assert recon["reconciled"].all() and (recon["quarantined"] == 0).all()
    assert (recon["score"] == 1.0).all()
    assert recon.loc[recon["instrument"] == INST, "raw"].tolist() == [4000] * 4


def test_reconciliation_holds_on_a_corrupted_partition(instance, corrupted, warehouse_url):
    write_raw(warehouse_url, "raw_ticks", corrupted[0], INST, DAY)
    write_raw(warehouse_url, "raw_ticks", corrupted[1], BAR_INSTRUMENT, DAY)

    for inst in (INST, BAR_INSTRUMENT):
        assert materialize(instance, warehouse_url, DAY, inst, ["validated_ticks"]).success

    with open_warehouse(warehouse_url) as wh:
        _, recon, rules = summary(wh)
    assert recon[["raw", "kept", "quarantined"]].values.tolist() == [[4002, 3990, 12], [1382, 1372, 10]]
    assert recon["reconciled"].all()
    assert (recon["score"] < 1).all()
    assert rules.set_index("rule")["rows"].to_dict()["duplicate_ts"] == 4
    pd.testing.assert_series_equal(rules["rows"], rules["rows"].sort_values(ascending=False), check_index=False)


def test_without_great_expectations_the_checks_count_from_the_rules_alone(instance, corrupted, warehouse_url):
    write_raw(warehouse_url, "raw_ticks", corrupted[0], INST, DAY)
    no_gx = {"ops": {"validated_ticks": {"config": {"great_expectations": False}}}}

    result = materialize(instance, warehouse_url, DAY, INST, ["validated_ticks"], run_config=no_gx)

    assert result.success
    checks = evaluations(result, "validated_ticks")
    assert_counts(checks, TICK_COUNTS)
    assert not any("gx_unexpected_count" in e.metadata for e in checks.values())
