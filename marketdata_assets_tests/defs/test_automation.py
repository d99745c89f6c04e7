"""Automation reaches every partition: a historical date updated by a sensor, a backfill or
a manual run flows through to ``indicators``; a chain run leaves nothing to re-request."""

from __future__ import annotations

import dagster as dg
import pytest

from marketdata_assets.defs.bars.assets import ohlc_bars
from marketdata_assets.defs.features.assets import indicators
from marketdata_assets.defs.partitions import instrument_partitions, key_for
from marketdata_assets.defs.quality.assets import validated_ticks
from marketdata_assets.defs.quality.checks import freshness_checks
from marketdata_assets.defs.reference.assets import reference_data
from marketdata_assets.defs.resources import FreshnessResource, SierraResource, WarehouseResource
from marketdata_assets.defs.sierra.assets import sierra_ticks
from marketdata_assets.defs.sierra.jobs import SIERRA_CHAIN, SIERRA_CHAIN_CHECK_KEYS, sierra_chain_job

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}},
         "ops": {"validated_ticks": {"config": {"great_expectations": False}}}}
DAY, INST = "2024-03-06", "ESH24"           # years before "now": never the latest time window
KEY = str(key_for(DAY, INST))


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(instrument_partitions.name, [INST])
        yield inst


@pytest.fixture
def defs(sample_dir, tmp_path):
    return dg.Definitions(
        assets=[reference_data, sierra_ticks, validated_ticks, ohlc_bars, indicators], jobs=[sierra_chain_job],
        asset_checks=[freshness_checks],
        resources={"freshness": FreshnessResource(), "warehouse": WarehouseResource(url=f"sqlite:///{tmp_path}/wh.db"),
                   "sierra": SierraResource(data_dir=str(sample_dir))})


def run(defs, instance, *assets, key=KEY):
    config = {k: v for k, v in QUIET.items() if k != "ops" or "validated_ticks" in assets}
    checks = SIERRA_CHAIN_CHECK_KEYS if "validated_ticks" in assets else []   # as the sensor's run requests
    job = defs.resolve_job_def("sierra_chain").get_subset(asset_selection={dg.AssetKey(a) for a in assets},
                                                          asset_check_selection=set(checks))
    result = job.execute_in_process(instance=instance, partition_key=key, run_config=config)
    assert result.success
    return result


def requested(tick) -> dict[str, set[str]]:
    return {r.key.to_user_string(): set(r.true_subset.expensively_compute_partition_keys())
            for r in tick.results if isinstance(r.key, dg.AssetKey) and r.true_subset.size}


def test_historical_partition_from_a_sensor_run_flows_through_to_indicators(defs, instance):
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert requested(tick) == {}

    run(defs, instance, "sierra_ticks")                      # what the directory sensor's file brings
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)

    assert requested(tick) == {"validated_ticks": {KEY}, "ohlc_bars": {KEY}, "indicators": {KEY}}  # one run
    run(defs, instance, "validated_ticks", "ohlc_bars", "indicators")
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert requested(tick) == {}


def test_a_manual_ohlc_bars_run_on_an_old_date_refreshes_its_indicators(defs, instance):
    run(defs, instance, *SIERRA_CHAIN)
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)

    run(defs, instance, "ohlc_bars")
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)

    assert requested(tick) == {"indicators": {KEY}}


def test_a_whole_chain_run_leaves_automation_nothing_to_request(defs, instance):
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)

    result = run(defs, instance, *SIERRA_CHAIN)
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)

    assert result.dagster_run.job_name == "sierra_chain"
    assert "freshness" not in {e.check_name for e in result.get_asset_check_evaluations()}   # the sensor's job
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} == set(SIERRA_CHAIN)
    assert requested(tick) == {}


def test_chain_runs_of_several_partitions_between_two_ticks_leave_nothing_to_request(defs, instance):
    """Dagster's ``executed_with_root_target`` looks only at an asset's latest materialization
    over all partitions: with several chain runs finished between two ticks (the sensor
    launches one per partition, four at a time) every partition but the last one looked
    updated from outside and got a second ohlc_bars + indicators run."""
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    keys = [str(key_for(day, INST)) for day in ("2024-03-07", "2024-03-08", "2024-03-11")]

    for key in keys:
        run(defs, instance, *SIERRA_CHAIN, key=key)
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)

    assert requested(tick) == {}


def test_dependency_newer_reads_the_partitions_latest_materializations_when_evaluated(sample_dir, tmp_path,
                                                                                       instance):
    """The part of the conditions that is read live, after ``in_progress``: a chain run that
    finished while a tick ran leaves ohlc_bars newer than validated_ticks, so nothing is
    requested even when the tick's asset records still showed only the validated_ticks update."""
    from marketdata_assets.defs.automation import DependencyNewer

    # a dependency updated in this tick (whoever ran it), and DependencyNewer: only the latter tells the cases apart
    probe_condition = dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated()) & DependencyNewer()
    only_newer = ohlc_bars.map_asset_specs(lambda spec: spec.replace_attributes(automation_condition=probe_condition))
    resources = {"freshness": FreshnessResource(), "sierra": SierraResource(data_dir=str(sample_dir)),
                 "warehouse": WarehouseResource(url=f"sqlite:///{tmp_path}/wh.db")}
    probe = dg.Definitions(assets=[reference_data, sierra_ticks, validated_ticks, only_newer, indicators],
                           asset_checks=[freshness_checks], jobs=[sierra_chain_job], resources=resources)
    first = dg.evaluate_automation_conditions(defs=probe, instance=instance)

    run(probe, instance, *SIERRA_CHAIN)
    after_chain = dg.evaluate_automation_conditions(defs=probe, instance=instance, cursor=first.cursor)
    run(probe, instance, "sierra_ticks", "validated_ticks")
    after_dependency = dg.evaluate_automation_conditions(defs=probe, instance=instance, cursor=after_chain.cursor)

    assert requested(after_chain) == {}                                    # its own materialization is the newest
    assert requested(after_dependency)["ohlc_bars"] == {KEY}              # validated_ticks was rewritten after it
