"""sierra_depth and book_snapshots through Dagster; the depth directory sensor."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pytest

from marketdata_assets.definitions import DEPTH_ASSETS, SIERRA_ASSETS
from marketdata_assets.defs.partitions import instrument_partitions, key_for
from marketdata_assets.defs.resources import DepthResource, SierraResource, WarehouseResource
from marketdata_assets.defs.sierra.depth_sensor import sierra_depth_sensor
from marketdata_assets.sources.sierra.depth_writer import depth_records, write_depth
from marketdata_assets_tests.depth import handbuilt as hb

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(instrument_partitions.name, [hb.INSTRUMENT])
        yield inst


def materialize(instance, tmp_path, url, selection=("sierra_depth", "book_snapshots")):
    return dg.materialize(
        [*SIERRA_ASSETS, *DEPTH_ASSETS], selection=list(selection), instance=instance,
        partition_key=key_for(hb.TRADING_DATE, hb.INSTRUMENT), run_config=QUIET, raise_on_error=False,
        resources={"warehouse": WarehouseResource(url=url), "sierra": SierraResource(data_dir=str(tmp_path)),
                   "depth": DepthResource(depth_dir=str(tmp_path), max_quarantined_share=0.5)})


def test_assets_record_counts_schema_and_judge_the_book(instance, tmp_path):
    hb.write_files(tmp_path)
    url = f"sqlite:///{tmp_path}/wh.db"

    result = materialize(instance, tmp_path, url)

    assert result.success
    meta = {m.asset_key.path[-1]: m.metadata for m in result.get_asset_materialization_events()
            for m in [m.event_specific_data.materialization]}
    assert meta["sierra_depth"]["dagster/row_count"].value == 9
    assert [c.name for c in meta["sierra_depth"]["dagster/column_schema"].schema.columns][:4] == \
        ["instrument", "ts", "trading_date", "seq"]
    assert meta["book_snapshots"]["dagster/row_count"].value == sum(len(v) for v in hb.EXPECTED_SNAPSHOTS.values())
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["depth_quarantined_share"].passed            # 4 of 13 under the 0.5 set here
    assert not checks["book_not_crossed"].passed               # the hand-built book crosses once and locks once
    assert checks["book_not_crossed"].metadata["crossed_batch_ends"].value == 1
    assert not checks["book_agrees_with_scid_quotes"].passed    # no .scid loaded: nothing to compare, says so
    assert checks["book_agrees_with_scid_quotes"].severity == dg.AssetCheckSeverity.WARN


def test_missing_depth_files_fail_with_the_directory(instance, tmp_path):
    result = materialize(instance, tmp_path, f"sqlite:///{tmp_path}/wh.db", selection=("sierra_depth",))

    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "no .depth file for ESZ5 2025-09-23" in failure.event_specific_data.error.message


def tick(instance, depth_dir, cursor=None):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={
        "sierra": SierraResource(data_dir=str(depth_dir)), "depth": DepthResource(depth_dir=str(depth_dir))})
    return sierra_depth_sensor(ctx)


def test_sensor_requests_trading_dates_of_new_and_grown_depth_files(instance, tmp_path):
    hb.write_files(tmp_path, trailing=b"")
    (tmp_path / "bad name.2025-09-23.depth").write_bytes(b"x")

    first = tick(instance, tmp_path)
    again = tick(instance, tmp_path, first.cursor)
    write_depth(tmp_path / "ESZ5.2025-09-23.depth", depth_records([hb.B0 + 23 * 3_600_000_000], [0], [1], [0.0], [0]),
                append=True)
    grown = tick(instance, tmp_path, again.cursor)

    # file A holds the previous trading date's seed snapshot and the start of 09-23; file B 09-23 and 09-24:
    # 09-23 is asked for once, its run key naming both files
    assert [str(r.partition_key) for r in first.run_requests] == ["2025-09-22|ESZ5", "2025-09-23|ESZ5",
                                                                 "2025-09-24|ESZ5"]
    both = first.run_requests[1].run_key
    assert "ESZ5.2025-09-22.depth:" in both and "ESZ5.2025-09-23.depth:" in both
    assert again.run_requests == []
    assert [str(r.partition_key) for r in grown.run_requests] == ["2025-09-24|ESZ5"]
    assert np.all([r.run_key.endswith(str(r.partition_key).split("|")[0]) for r in first.run_requests])


def test_sensor_skips_trading_dates_outside_the_partitions(instance, tmp_path):
    far = 4_102_444_800_000_000  # 2100-01-01
    write_depth(tmp_path / "ESZ5.2099-12-31.depth", depth_records([far - 1, far - 1], [1, 0], [0, 1], [0.0, 0.0], [0, 0]))
    hb.write_files(tmp_path, trailing=b"")

    result = tick(instance, tmp_path)

    assert all(str(r.partition_key) < "2026-12-31" for r in result.run_requests)
    assert len(result.run_requests) == 3


def test_corrupt_depth_header_fails_the_run_naming_file_and_offset(instance, tmp_path):
    a, _ = hb.write_files(tmp_path)
    a.write_bytes(b"SCDX" + a.read_bytes()[4:])

    result = materialize(instance, tmp_path, f"sqlite:///{tmp_path}/wh.db", selection=("sierra_depth",))

    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert f"{a.resolve()} at byte 0: bad magic" in failure.event_specific_data.error.message
