"""The directory sensor: new instruments, new and grown files, bad files never crash it."""

from __future__ import annotations

import json
import shutil

import dagster as dg
import numpy as np
import pytest

from marketdata_assets.defs.resources import SierraResource
from marketdata_assets.defs.sierra.jobs import SIERRA_CHAIN_KEYS
from marketdata_assets.defs.sierra.sensors import sierra_files_sensor
from marketdata_assets.sources.sierra.sample import write_scid
from marketdata_assets.sources.sierra.scid import RECORD_DTYPE, SC_EPOCH_US


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def tick(instance, data_dir, cursor=None):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor,
                                  resources={"sierra": SierraResource(data_dir=str(data_dir))})
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
