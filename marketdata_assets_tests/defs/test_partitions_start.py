"""MARKETDATA_PARTITIONS_START: read when the Definitions are built (never at import), applied
to every partitioned asset and its checks; records before it are quarantined, not dropped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from marketdata_assets.definitions import SIERRA_ASSETS, build_defs
from marketdata_assets.defs.partitions import instrument_partitions, key_for, with_partitions_start
from marketdata_assets.defs.resources import DepthResource, SierraResource, WarehouseResource
from marketdata_assets.defs.sierra.sensors import sierra_files_sensor
from marketdata_assets.errors import ConfigError
from marketdata_assets.settings import get_settings
from marketdata_assets.sources.sierra.scid import read_scid
from marketdata_assets_tests.defs.helpers import QUIET


def starts(defs: dg.Definitions) -> set[str]:
    repo = defs.get_repository_def()
    out = set()
    for a in repo.assets_defs_by_key.values():
        if a.partitions_def is not None:
            out.add(str(a.partitions_def.get_partitions_def_for_dimension("date").start.date()))
            out |= {str(c.partitions_def.get_partitions_def_for_dimension("date").start.date())
                    for c in a.check_specs if c.partitions_def is not None}
    return out


def test_start_is_read_when_the_definitions_are_built(monkeypatch):
    monkeypatch.delenv("MARKETDATA_PARTITIONS_START", raising=False)
    default = build_defs()
    monkeypatch.setenv("MARKETDATA_PARTITIONS_START", "2024-03-11")

    configured = build_defs()

    assert starts(default) == {"2020-01-01"}
    assert starts(configured) == {"2024-03-11"}
    for a in configured.get_repository_def().assets_defs_by_key.values():
        if a.partitions_def is not None:
            assert "trading date" in a.specs_by_key[a.key].metadata["partition_date"]


def test_a_start_that_is_no_date_is_refused(monkeypatch):
    monkeypatch.setenv("MARKETDATA_PARTITIONS_START", "2024-13-01")

    with pytest.raises(ConfigError, match="MARKETDATA_PARTITIONS_START"):
        get_settings()


def test_the_code_location_loads_through_dagster_with_the_configured_start(tmp_path):
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "MARKETDATA_PARTITIONS_START": "2024-03-11",
           "MARKETDATA_VAR_DIR": str(tmp_path)}

    done = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate",
                           "-m", "marketdata_assets.definitions"], capture_output=True, text=True, env=env, timeout=180)

    assert done.returncode == 0, done.stderr[-2000:]
    assert "Validation successful" in done.stdout + done.stderr


def test_sensor_of_the_built_definitions_requests_no_date_before_the_start(monkeypatch, sample_dir, tmp_path):
    monkeypatch.setenv("MARKETDATA_PARTITIONS_START", "2024-03-11")
    data_dir = tmp_path / "sierra"
    data_dir.mkdir()
    shutil.copy(sample_dir / "ESH24.scid", data_dir)
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(
            instance=instance, repository_def=build_defs().get_repository_def(),
            resources={"sierra": SierraResource(data_dir=str(data_dir)),
                       "depth": DepthResource(depth_dir=str(data_dir / "MarketDepthData")),
                       "warehouse": WarehouseResource(url=f"sqlite:///{tmp_path}/wh.db")})

        result = sierra_files_sensor(ctx)

    assert sorted(str(r.partition_key) for r in result.run_requests) == ["2024-03-11|ESH24", "2024-03-12|ESH24"]


def test_records_before_the_start_are_quarantined_by_the_first_partition(sample_dir, tmp_path):
    assets = with_partitions_start(SIERRA_ASSETS, "2024-03-11")
    early = read_scid(sample_dir / "ESH24.scid").records["ts"] < "2024-03-10 22:00Z"   # trading dates 03-07, 03-08
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(instrument_partitions.name, ["ESH24"])

        result = dg.materialize(assets, selection=["sierra_ticks"], partition_key=key_for("2024-03-11", "ESH24"),
                                instance=instance, run_config=QUIET, resources={
                                    "warehouse": WarehouseResource(url=f"sqlite:///{tmp_path}/wh.db"),
                                    "sierra": SierraResource(data_dir=str(sample_dir))})

    meta = result.asset_materializations_for_node("sierra_ticks")[0].metadata
    assert meta["quarantined_out_of_range"].value == int(early.sum()) > 0


def test_demo_and_dev_start_the_partitions_at_the_sample_datas_first_date(monkeypatch):
    from marketdata_assets.demo import demo_settings
    from marketdata_assets.testkit.sierra_sample import SAMPLE_DATES

    monkeypatch.delenv("MARKETDATA_SIERRA_DATA_DIR", raising=False)
    monkeypatch.delenv("MARKETDATA_PARTITIONS_START", raising=False)
    makefile = (Path(__file__).parents[2] / "Makefile").read_text()

    assert demo_settings(get_settings()).partitions_start == SAMPLE_DATES[0].isoformat()
    assert f"SAMPLE_START := {SAMPLE_DATES[0].isoformat()}" in makefile
    monkeypatch.setenv("MARKETDATA_PARTITIONS_START", "2023-01-02")
    assert demo_settings(get_settings()).partitions_start == "2023-01-02"


def test_an_end_closes_the_date_partitions_and_later_records_are_quarantined(monkeypatch, sample_dir, tmp_path):
    """MARKETDATA_PARTITIONS_END (``make dev`` sets it to the sample's last date): the space is
    start..end, nothing after the end is pending, a record after it is quarantined by the last
    partition, and the sensor requests no date after it."""
    from marketdata_assets.defs.partitions import date_range

    monkeypatch.setenv("MARKETDATA_PARTITIONS_START", "2024-03-07")
    monkeypatch.setenv("MARKETDATA_PARTITIONS_END", "2024-03-08")
    defs = build_defs()
    dates = defs.resolve_assets_def("ohlc_bars").partitions_def.get_partitions_def_for_dimension("date")
    late = read_scid(sample_dir / "ESH24.scid").records["ts"] >= "2024-03-09"   # trading dates 03-11, 03-12
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(instrument_partitions.name, ["ESH24"])
        ctx = dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def(), resources={
            "sierra": SierraResource(data_dir=str(sample_dir)),
            "depth": DepthResource(depth_dir=str(tmp_path / "no-depth")),
            "warehouse": WarehouseResource(url=f"sqlite:///{tmp_path}/wh.db")})
        requested = sorted(str(r.partition_key) for r in sierra_files_sensor(ctx).run_requests if "ESH24" in
                           str(r.partition_key))
        result = dg.materialize(with_partitions_start(SIERRA_ASSETS, "2024-03-07", "2024-03-08"),
                                selection=["sierra_ticks"], partition_key=key_for("2024-03-08", "ESH24"),
                                instance=instance, run_config=QUIET, resources={
                                    "warehouse": WarehouseResource(url=f"sqlite:///{tmp_path}/wh.db"),
                                    "sierra": SierraResource(data_dir=str(sample_dir))})

    assert dates.get_partition_keys() == ["2024-03-07", "2024-03-08"]
    assert date_range(defs.resolve_assets_def("ohlc_bars").partitions_def).pending_until is None
    assert requested == ["2024-03-07|ESH24", "2024-03-08|ESH24"]
    meta = result.asset_materializations_for_node("sierra_ticks")[0].metadata
    assert meta["quarantined_out_of_range"].value == int(late.sum()) > 0


def test_dev_ends_the_partitions_at_the_sample_datas_last_date():
    from marketdata_assets.testkit.sierra_sample import SAMPLE_DATES

    root = Path(__file__).parents[2]

    assert f"SAMPLE_END := {SAMPLE_DATES[-1].isoformat()}" in (root / "Makefile").read_text()
    assert 'export MARKETDATA_PARTITIONS_END="$SAMPLE_END"' in (root / "scripts" / "dev.sh").read_text()
