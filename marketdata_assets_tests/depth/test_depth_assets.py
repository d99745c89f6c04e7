"""sierra_depth and book_snapshots through Dagster; the directory sensor on .depth files."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta

import dagster as dg
import numpy as np
import pytest

from marketdata_assets.definitions import DEPTH_ASSETS, SIERRA_ASSETS
from marketdata_assets.defs.partitions import instrument_partitions, key_for
from marketdata_assets.defs.resources import DepthResource, SierraResource, WarehouseResource
from marketdata_assets.defs.sierra.sensors import sierra_files_sensor
from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.pipelines.sierra.depth import load_depth
from marketdata_assets.sources.sierra.depth_writer import depth_records, write_depth
from marketdata_assets.storage.warehouse import open_warehouse
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


def tick(instance, depth_dir, cursor=None, url=None):
    """One tick of the directory sensor, with no .scid files and the .depth files in ``depth_dir``."""
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={
        "sierra": SierraResource(data_dir=str(depth_dir / "no-scid")), "depth": DepthResource(depth_dir=str(depth_dir)),
        "warehouse": WarehouseResource(url=url or f"sqlite:///{depth_dir}/wh.db")})
    return sierra_files_sensor(ctx)


def keys(result):
    return sorted(str(r.partition_key) for r in result.run_requests)


def test_sensor_requests_trading_dates_of_new_and_grown_depth_files(instance, tmp_path):
    hb.write_files(tmp_path, trailing=b"")               # file B ends inside a batch
    (tmp_path / "bad name.2025-09-23.depth").write_bytes(b"x")
    (tmp_path / "BROKEN.2025-09-23.depth").write_bytes(b"NOPE" * 30)

    first = tick(instance, tmp_path)
    again = tick(instance, tmp_path, first.cursor)
    write_depth(tmp_path / "ESZ5.2025-09-23.depth", depth_records([hb.B0 + 23 * 3_600_000_000], [0], [1], [0.0], [0]),
                append=True)                              # closes the open batch
    grown = tick(instance, tmp_path, again.cursor)

    # file A holds the previous trading date's seed snapshot and the start of 09-23; file B 09-23 and 09-24:
    # 09-23 is asked for once, its run key naming both files
    assert keys(first) == ["2025-09-22|ESZ5", "2025-09-23|ESZ5", "2025-09-24|ESZ5"]
    both = next(r.run_key for r in first.run_requests if str(r.partition_key) == "2025-09-23|ESZ5")
    assert "ESZ5.2025-09-22.depth:" in both and "ESZ5.2025-09-23.depth:" in both
    assert {(r.job_name, tuple(r.asset_selection), tuple(r.asset_check_keys)) for r in first.run_requests} == {
        ("sierra_depth_load", (dg.AssetKey("sierra_depth"),),
         (dg.AssetCheckKey(dg.AssetKey("sierra_depth"), "depth_quarantined_share"),))}
    assert np.all([r.run_key.endswith(str(r.partition_key).split("|")[0]) for r in first.run_requests])
    assert again.run_requests == []                       # the open batch alone requests nothing
    assert keys(grown) == ["2025-09-24|ESZ5"]
    assert not any("BROKEN" in k or "bad name" in k for k in json.loads(grown.cursor))


def test_sensor_skips_trading_dates_outside_the_partitions(instance, tmp_path, capfd):
    far = 4_102_444_800_000_000  # 2100-01-01
    write_depth(tmp_path / "ESZ5.2099-12-31.depth", depth_records([far - 1, far - 1], [1, 0], [0, 1], [0.0, 0.0], [0, 0]))
    hb.write_files(tmp_path, trailing=b"")

    result = tick(instance, tmp_path)

    assert keys(result) == ["2025-09-22|ESZ5", "2025-09-23|ESZ5", "2025-09-24|ESZ5"]
    logged = [line for line in capfd.readouterr().err.splitlines() if "2099-12-31" in line]
    assert len(logged) == 1 and "2 records outside the date partitions" in logged[0]


def test_tomorrows_depth_records_are_not_requested_and_the_file_is_looked_at_again(instance, tmp_path, capfd):
    instance.add_dynamic_partitions(instrument_partitions.name, ["BTCUSDT"])
    tomorrow = date.fromtimestamp(time.time()) + timedelta(days=1)     # crypto: the trading date is the UTC day
    noon = (int(time.time()) // 86_400 + 1) * 86_400_000_000 + 43_200_000_000
    old = 1_709_899_200_000_000                                         # 2024-03-08 12:00 UTC
    write_depth(tmp_path / f"BTCUSDT.{tomorrow}.depth", depth_records([noon, noon], [1, 2], [0, 1], [0.0, 60000.0], [0, 1]))
    write_depth(tmp_path / "BTCUSDT.2024-03-08.depth", depth_records([old, old], [1, 2], [0, 1], [0.0, 60000.0], [0, 1]))

    first = tick(instance, tmp_path)
    again = tick(instance, tmp_path, first.cursor)

    assert keys(first) == ["2024-03-08|BTCUSDT"] and again.run_requests == []
    assert not any(str(tomorrow) in k for k in json.loads(again.cursor))                     # looked at again
    waiting = [line for line in capfd.readouterr().err.splitlines() if f"BTCUSDT.{tomorrow}.depth: 2 records" in line]
    assert len(waiting) == 2 and "wait for its partition" in waiting[0]


def test_identical_depth_files_written_again_launch_no_run_that_would_read_nothing(instance, tmp_path,
                                                                                   warehouse_url):
    a, b = hb.write_files(tmp_path, trailing=b"")
    market = market_for_instrument(hb.INSTRUMENT)
    with open_warehouse(warehouse_url) as wh:                       # what `make demo` loaded before
        for day in ("2025-09-22", "2025-09-23", "2025-09-24"):
            load_depth(wh, tmp_path, hb.INSTRUMENT, market, date.fromisoformat(day), "demo")
    for path in (a, b):
        path.write_bytes(path.read_bytes())                          # `make dev` re-creates the files

    fresh = tick(instance, tmp_path, url=warehouse_url)              # a new sensor cursor sees them first
    write_depth(b, depth_records([hb.B0 + 23 * 3_600_000_000], [0], [1], [0.0], [0]), append=True)
    grown = tick(instance, tmp_path, fresh.cursor, url=warehouse_url)

    assert fresh.run_requests == []
    assert keys(grown) == ["2025-09-24|ESZ5"]


def test_corrupt_depth_header_fails_the_run_naming_file_and_offset(instance, tmp_path):
    a, _ = hb.write_files(tmp_path)
    a.write_bytes(b"SCDX" + a.read_bytes()[4:])

    result = materialize(instance, tmp_path, f"sqlite:///{tmp_path}/wh.db", selection=("sierra_depth",))

    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert f"{a.resolve()} at byte 0: bad magic" in failure.event_specific_data.error.message
