"""The directory sensor: new instruments, new and grown files, bad files never crash it."""

from __future__ import annotations

import json
import shutil
import time
from datetime import date

import dagster as dg
import numpy as np
import pytest

from marketdata_assets.defs.partitions import market_partitions
from marketdata_assets.defs.resources import DepthResource, SierraResource, WarehouseResource
from marketdata_assets.defs.sierra.jobs import SIERRA_CHAIN_KEYS
from marketdata_assets.defs.sierra.sensors import sierra_files_sensor
from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.pipelines.sierra.ticks import load_raw
from marketdata_assets.sources.sierra.scid import RECORD_DTYPE, SC_EPOCH_US
from marketdata_assets.storage.warehouse import open_warehouse
from marketdata_assets.testkit.sierra_sample import write_scid


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def tick(instance, data_dir, cursor=None):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={
        "sierra": SierraResource(data_dir=str(data_dir)),
        "depth": DepthResource(depth_dir=str(data_dir / "MarketDepthData")),
        "warehouse": WarehouseResource(url=f"sqlite:///{data_dir.parent}/warehouse.db")})
    result = sierra_files_sensor(ctx)
    for req in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    return result


def keys(result):
    return sorted(str(r.partition_key) for r in result.run_requests)


def test_first_sight_adds_instruments_and_requests_every_trading_date(instance, sample_dir, tmp_path):
    data_dir = tmp_path / "sierra"
    shutil.copytree(sample_dir, data_dir)

    result = tick(instance, data_dir)

    added = sorted(result.dynamic_partitions_requests[0].partition_keys)
    assert added == ["CLJ24", "ESH24", "EURUSD", "GCJ24_FUT_COMEX", "NQH24-CME"]
    assert len(result.run_requests) == 5 * 4
    assert {tuple(r.asset_selection) for r in result.run_requests} == {tuple(SIERRA_CHAIN_KEYS)}  # the whole chain
    assert all("freshness" not in {k.name for k in r.asset_check_keys} and r.asset_check_keys
               for r in result.run_requests)                        # the rule checks; freshness is the sensor's
    assert "2024-03-11|ESH24" in keys(result)
    assert len({r.run_key for r in result.run_requests}) == 20


def test_unchanged_files_request_nothing_and_grown_files_request_appended_dates(instance, sample_dir, tmp_path):
    data_dir = tmp_path / "sierra"
    data_dir.mkdir()
    shutil.copy(sample_dir / "ESH24.scid", data_dir)
    first = tick(instance, data_dir)
    again = tick(instance, data_dir, first.cursor)
    rec = np.zeros(2, dtype=RECORD_DTYPE)
    rec["dt"] = SC_EPOCH_US + 1_710_280_800_000_000 + np.arange(2)  # 2024-03-12 22:00 UTC → trading date 03-13
    rec["close"], rec["high"], rec["low"], rec["num_trades"], rec["total_volume"] = 5000, 5000.25, 5000, 1, 1
    write_scid(data_dir / "ESH24.scid", rec, append=True)

    grown = tick(instance, data_dir, again.cursor)

    assert again.run_requests == []
    assert keys(grown) == ["2024-03-13|ESH24"]
    assert json.loads(grown.cursor)[str((data_dir / "ESH24.scid").resolve())][0] == (data_dir / "ESH24.scid").stat().st_size


def test_bad_files_are_skipped_and_good_ones_still_load(instance, sample_dir, tmp_path):
    data_dir = tmp_path / "sierra"
    data_dir.mkdir()
    shutil.copy(sample_dir / "CLJ24.scid", data_dir)
    (data_dir / "BROKEN.scid").write_bytes(b"NOPE" * 20)
    (data_dir / "bad name;rm.scid").write_bytes(b"")

    result = tick(instance, data_dir)

    assert keys(result) == [f"2024-03-{d}|CLJ24" for d in ("07", "08", "11", "12")]
    cursor = json.loads(result.cursor)
    assert not any("BROKEN" in k for k in cursor)  # retried once it changes


def test_replaced_file_is_read_again_for_all_its_dates(instance, sample_dir, tmp_path):
    data_dir = tmp_path / "sierra"
    data_dir.mkdir()
    shutil.copy(sample_dir / "ESH24.scid", data_dir)
    first = tick(instance, data_dir)
    full = (data_dir / "ESH24.scid").read_bytes()
    (data_dir / "ESH24.scid").write_bytes(full[: 56 + 40 * 10])   # shrank: replaced by a shorter file

    result = tick(instance, data_dir, first.cursor)

    assert keys(result) == ["2024-03-07|ESH24"]


INT64_MIN, INT64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max
IN_RANGE_US = 1_709_910_000_000_000   # 2024-03-08 15:00 UTC: trading date 2024-03-08 on CME


def hostile_records() -> np.ndarray:
    """Two good trades around every kind of DateTime no partition holds."""
    future_us = int((time.time() + 5 * 86_400) * 1e6)
    before_start_us = 1_577_750_400_000_000   # 2019-12-31 00:00 UTC, before the 2020-01-01 start
    dts = [SC_EPOCH_US + IN_RANGE_US, 0, -1, INT64_MAX, INT64_MIN,
           int(np.array([1e300]).view(np.int64)[0]), 0x41F0_0000_0000_0000, SC_EPOCH_US + before_start_us,
           SC_EPOCH_US + future_us, SC_EPOCH_US + IN_RANGE_US + 1_000_000]
    rec = np.zeros(len(dts), dtype=RECORD_DTYPE)
    rec["dt"] = np.array(dts, dtype=np.int64)
    rec["close"], rec["high"], rec["low"], rec["num_trades"], rec["total_volume"] = 5000, 5000.25, 5000, 1, 1
    return rec


def test_records_outside_the_partitions_never_become_requests_and_other_files_still_load(
        instance, sample_dir, tmp_path, capfd):
    data_dir = tmp_path / "sierra"
    data_dir.mkdir()
    write_scid(data_dir / "ESM24.scid", hostile_records())
    shutil.copy(sample_dir / "CLJ24.scid", data_dir)

    result = tick(instance, data_dir)

    dates = market_partitions.get_partitions_def_for_dimension("date")
    assert all(dates.has_partition_key(str(r.partition_key).split("|")[0]) for r in result.run_requests)
    assert keys(result) == sorted([f"2024-03-{d}|CLJ24" for d in ("07", "08", "11", "12")] + ["2024-03-08|ESM24"])
    assert sorted(json.loads(result.cursor)) == sorted(str(p.resolve()) for p in data_dir.iterdir())
    logged = [line for line in capfd.readouterr().err.splitlines() if "ESM24" in line]
    assert len(logged) == 1 and "8 records outside the date partitions" in logged[0]


def test_a_file_with_no_record_in_range_requests_nothing_and_says_so(instance, tmp_path, capfd):
    data_dir = tmp_path / "sierra"
    data_dir.mkdir()
    write_scid(data_dir / "ESM24.scid", hostile_records()[1:-1])

    result = tick(instance, data_dir)

    assert result.run_requests == []
    assert "8 of them have no partition to quarantine them" in capfd.readouterr().err


def test_zero_byte_and_corrupt_files_add_no_instrument(instance, sample_dir, tmp_path):
    data_dir = tmp_path / "sierra"
    data_dir.mkdir()
    shutil.copy(sample_dir / "CLJ24.scid", data_dir)
    (data_dir / "ESH24-empty.scid").write_bytes(b"")
    (data_dir / "BROKEN.scid").write_bytes(b"NOPE" * 20)

    result = tick(instance, data_dir)

    added = [k for req in result.dynamic_partitions_requests for k in req.partition_keys]
    assert added == ["CLJ24"]


def test_identical_files_written_again_launch_no_run_that_would_read_nothing(instance, sample_dir, tmp_path):
    data_dir = tmp_path / "sierra"
    data_dir.mkdir()
    path = data_dir / "ESH24.scid"
    shutil.copy(sample_dir / "ESH24.scid", path)
    market = market_for_instrument("ESH24")
    with open_warehouse(f"sqlite:///{tmp_path}/warehouse.db") as wh:   # what `make demo` loaded before
        for day in ("2024-03-07", "2024-03-08", "2024-03-11", "2024-03-12"):
            load_raw(wh, path, "ESH24", market, date.fromisoformat(day), "demo")
    path.write_bytes(path.read_bytes())                                 # `make dev` re-creates the file

    fresh = tick(instance, data_dir)                                    # a new sensor cursor sees it first
    rec = np.zeros(1, dtype=RECORD_DTYPE)
    rec["dt"] = SC_EPOCH_US + 1_710_280_800_000_000                     # 2024-03-13 trading date
    rec["close"], rec["high"], rec["low"], rec["num_trades"], rec["total_volume"] = 5000, 5000.25, 5000, 1, 1
    write_scid(path, rec, append=True)
    grown = tick(instance, data_dir, fresh.cursor)

    assert fresh.run_requests == []
    assert keys(grown) == ["2024-03-13|ESH24"]


def test_tomorrows_records_are_not_requested_and_the_file_is_looked_at_again(instance, tmp_path):
    tomorrow = (time.time() // 86_400 + 1) * 86_400 + 43_200                  # tomorrow 12:00 UTC
    rec = np.zeros(2, dtype=RECORD_DTYPE)
    rec["dt"] = [SC_EPOCH_US + 1_709_899_200_000_000, SC_EPOCH_US + int(tomorrow * 1e6)]
    rec["close"], rec["high"], rec["low"], rec["num_trades"], rec["total_volume"] = 60000, 60000.5, 60000, 1, 1
    data_dir = tmp_path / "sierra"
    data_dir.mkdir()
    write_scid(data_dir / "BTCUSDT.scid", rec)

    first = tick(instance, data_dir)
    again = tick(instance, data_dir, first.cursor)

    assert keys(first) == keys(again) == ["2024-03-08|BTCUSDT"]
    assert {r.run_key for r in first.run_requests} == {r.run_key for r in again.run_requests}   # deduplicated


def test_one_cursor_covers_scid_and_depth_files_each_requesting_its_own_job(instance, sample_dir, tmp_path):
    from marketdata_assets_tests.depth import handbuilt as hb

    data_dir = tmp_path / "sierra"
    data_dir.mkdir()
    shutil.copy(sample_dir / "ESH24.scid", data_dir)
    (data_dir / "MarketDepthData").mkdir()
    hb.write_files(data_dir / "MarketDepthData", trailing=b"")

    first = tick(instance, data_dir)
    again = tick(instance, data_dir, first.cursor)

    jobs = {}
    for r in first.run_requests:
        jobs.setdefault(r.job_name, []).append(str(r.partition_key))
    assert sorted(jobs["sierra_chain"]) == [f"2024-03-{d}|ESH24" for d in ("07", "08", "11", "12")]
    assert sorted(jobs["sierra_depth_load"]) == ["2025-09-22|ESZ5", "2025-09-23|ESZ5", "2025-09-24|ESZ5"]
    assert sorted(first.dynamic_partitions_requests[0].partition_keys) == ["ESH24", "ESZ5"]
    assert sorted(k.rsplit(".", 1)[1] for k in json.loads(first.cursor)) == ["depth", "depth", "scid"]
    assert again.run_requests == []
