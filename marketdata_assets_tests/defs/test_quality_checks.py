"""The check policy (what blocks, what warns), freshness with an injected clock, and the
code location loading without Great Expectations."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time

from marketdata_assets.defs.partitions import instrument_partitions, key_for
from marketdata_assets.defs.quality.checks import freshness_checks
from marketdata_assets.defs.quality.sensors import evaluate as evaluate_freshness
from marketdata_assets.defs.quality.sensors import freshness_sensor
from marketdata_assets.defs.resources import FreshnessResource, SierraResource, WarehouseResource
from marketdata_assets.transforms.quality import assess_ticks
from marketdata_assets.transforms.verdicts import check_rules, verdicts
from marketdata_assets_tests.quality.helpers import DAY, load_sample, partition

from .quality_support import ASSETS, QUIET

MONDAY = "2024-03-11"
AT_15_20 = datetime(2024, 3, 11, 15, 20, tzinfo=UTC).timestamp()   # CME open 2024-03-10 22:00 UTC (17:00 CDT) to 2024-03-11 21:00 UTC


@pytest.fixture(scope="module")
def clj_ticks(tmp_path_factory):
    market, ticks, _ = load_sample(tmp_path_factory.mktemp("sample"))["CLJ24"]
    return market, partition(ticks, DAY)


def statuses(frame, market, max_share=0.01) -> dict[str, str]:
    report = assess_ticks(frame, market, DAY, 0.01)
    return {v.name: v.status for v in verdicts({"ticks": report}, check_rules(["ticks"]), max_share)}


def test_a_rule_that_must_never_fire_fails_on_one_row(clj_ticks):
    market, ticks = clj_ticks
    bad = ticks.copy()
    bad["instrument"] = bad["instrument"].astype(object)
    bad.loc[10, "instrument"] = None

    got = statuses(bad, market)

    assert got["null_instrument"] == "fail"               # 1 row of 2500: far below max_share, still fails
    assert got["quarantined_share"] == "pass"


def test_a_bad_print_rule_fails_only_above_max_share(clj_ticks):
    market, ticks = clj_ticks
    bad = ticks.copy()
    trades = bad.index[bad["kind"] == "trade"]
    bad.loc[trades[100:125], "price"] = -1.0               # 25 of 2500 rows = 1.0 %

    assert statuses(bad, market, max_share=0.01)["price_not_finite_positive"] == "pass"
    assert statuses(bad, market, max_share=0.0099)["price_not_finite_positive"] == "fail"
    assert statuses(bad, market, max_share=0.0099)["quarantined_share"] == "fail"


# -- freshness ------------------------------------------------------------------------------
@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(instrument_partitions.name, ["ESH24", "NQH24-CME"])
        yield inst


def updated(instance, asset: str, day: str, at: str, instrument="ESH24") -> None:
    """A materialization of the partition recorded at ``at`` (UTC), as a run would record it."""
    with freeze_time(datetime.fromisoformat(at).replace(tzinfo=UTC)):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=str(key_for(day, instrument))))


def run_freshness(instance, as_of: str) -> dict[str, dg.AssetCheckEvaluation]:
    result = dg.materialize(
        [*ASSETS, freshness_checks], selection=dg.AssetSelection.checks(freshness_checks), instance=instance,
        resources={"warehouse": WarehouseResource(url="sqlite:///unused.db"), "sierra": SierraResource(),
                   "freshness": FreshnessResource()},
        run_config={**QUIET, "ops": {"freshness_checks": {"config": {"as_of": as_of}}}})
    assert result.success
    return {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}


def stored_freshness(instance, asset: str) -> dg.AssetCheckEvaluation:
    key = dg.AssetCheckKey(dg.AssetKey(asset), "freshness")
    return instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key].event.asset_check_evaluation


def test_fresh_partition_passes_and_a_stale_one_warns(instance):
    updated(instance, "ohlc_bars", MONDAY, "2024-03-11T15:00:00")
    updated(instance, "validated_ticks", MONDAY, "2024-03-11T15:00:00")

    fresh = run_freshness(instance, "2024-03-11T15:10:00+00:00")
    assert fresh["ohlc_bars"].passed and fresh["validated_ticks"].passed
    assert "| ESH24 | 2024-03-11 | fresh |" in fresh["ohlc_bars"].metadata["partitions"].value
    assert "| NQH24-CME | 2024-03-11 | inactive |" in fresh["ohlc_bars"].metadata["partitions"].value

    stale = run_freshness(instance, "2024-03-11T15:20:00+00:00")
    for asset in ("ohlc_bars", "validated_ticks"):
        assert not stale[asset].passed and stale[asset].severity == dg.AssetCheckSeverity.WARN
        assert stale[asset].metadata["stale"].data == ["ESH24"]
        assert stale[asset].metadata["freshness_minutes"].value == 15
        assert stored_freshness(instance, asset).metadata["stale"].data == ["ESH24"]   # same result in the instance
    assert "| ESH24 | 2024-03-11 | stale | 2024-03-11T15:00:00+00:00 | 20.0 |" in \
        stale["ohlc_bars"].metadata["partitions"].value


def test_the_threshold_comes_from_the_environment(instance, monkeypatch):
    updated(instance, "ohlc_bars", MONDAY, "2024-03-11T15:00:00")
    monkeypatch.setenv("MARKETDATA_FRESHNESS_MINUTES", "30")

    assert run_freshness(instance, "2024-03-11T15:20:00+00:00")["ohlc_bars"].passed


def test_closed_market_is_never_stale(instance):
    updated(instance, "ohlc_bars", MONDAY, "2024-03-11T15:00:00")

    halt = run_freshness(instance, "2024-03-11T21:30:00+00:00")["ohlc_bars"]     # 16:30 CDT: daily halt

    assert halt.passed
    assert "| ESH24 | 2024-03-11 | closed |" in halt.metadata["partitions"].value   # the date rolls at 17:00


def test_missing_partition_of_the_current_trading_date_is_stale_once_the_session_is_old(instance):
    updated(instance, "ohlc_bars", "2024-03-08", "2024-03-08T20:00:00")         # Friday's; nothing for Monday

    just_opened = run_freshness(instance, "2024-03-10T22:10:00+00:00")["ohlc_bars"]
    later = run_freshness(instance, "2024-03-11T14:00:00+00:00")["ohlc_bars"]

    assert just_opened.passed                                                   # 10 min into the session
    assert not later.passed and later.metadata["stale"].data == ["ESH24"]


def test_the_resource_threshold_wins_over_the_environment(instance, monkeypatch):
    updated(instance, "ohlc_bars", MONDAY, "2024-03-11T15:00:00")
    monkeypatch.setenv("MARKETDATA_FRESHNESS_MINUTES", "30")
    ctx = dg.build_sensor_context(instance=instance)

    result = evaluate_freshness(ctx, SierraResource(), FreshnessResource(minutes=5), AT_15_20)

    ohlc = {e.asset_key.path[-1]: e for e in result.asset_events}["ohlc_bars"]
    assert not ohlc.passed and ohlc.metadata["freshness_minutes"].value == 5


def test_freshness_is_reported_by_a_sensor_without_launching_runs(instance):
    updated(instance, "ohlc_bars", MONDAY, "2024-03-11T15:00:00")
    defs = dg.Definitions(assets=ASSETS, asset_checks=[freshness_checks], sensors=[freshness_sensor],
                          resources={"warehouse": WarehouseResource(), "sierra": SierraResource(),
                                     "freshness": FreshnessResource()})
    ctx = dg.build_sensor_context(instance=instance, resources={"sierra": SierraResource(),
                                                               "freshness": FreshnessResource()})

    result = evaluate_freshness(ctx, SierraResource(), FreshnessResource(), AT_15_20)
    assert len(freshness_sensor(ctx).asset_events) == 2        # the sensor itself, at the real now
    automation = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                   evaluation_time=datetime(2024, 3, 11, 15, 25, tzinfo=UTC))

    assert result.run_requests == []
    by_asset = {e.asset_key.path[-1]: e for e in result.asset_events}
    assert set(by_asset) == {"ohlc_bars", "validated_ticks"}
    assert all(isinstance(e, dg.AssetCheckEvaluation) for e in result.asset_events)
    assert not by_asset["ohlc_bars"].passed and by_asset["ohlc_bars"].metadata["stale"].data == ["ESH24"]
    assert not [r for r in automation.results if isinstance(r.key, dg.AssetCheckKey) and r.true_subset.size]


def test_loading_the_code_location_does_not_import_great_expectations():
    code = "import sys, marketdata_assets.definitions; print('great_expectations' in sys.modules)"

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert out.strip() == "False"


def test_an_invalid_instrument_key_added_from_the_ui_affects_only_itself(instance):
    instance.add_dynamic_partitions(instrument_partitions.name, ["../x", "ESH24\n"])
    updated(instance, "ohlc_bars", MONDAY, "2024-03-11T15:00:00")

    fresh = run_freshness(instance, "2024-03-11T15:10:00+00:00")["ohlc_bars"]

    assert fresh.passed
    table = fresh.metadata["partitions"].value
    assert "| ESH24 | 2024-03-11 | fresh |" in table and "../x" not in table
