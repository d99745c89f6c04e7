"""The Sierra path through Dagster: idempotent partitions, appended files, bad input."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from marketdata_assets.sources.sierra.scid import (
    HEADER_SIZE,
    RECORD_DTYPE,
    RECORD_SIZE,
    SC_EPOCH_US,
    read_scid,
)
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets.testkit.sierra_sample import header_bytes, write_scid
from marketdata_assets_tests.defs.helpers import materialize_partition

DAY, INST = "2024-03-11", "ESH24"


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def snapshot(url, instrument=INST, day=DAY):
    scope = partition_scope(instrument, day)
    with open_warehouse(url) as wh:
        return {t: wh.read(t, scope if t != "ohlc_bars" else {**scope, "origin": "sierra"})
                .drop(columns=["run_id"]).sort_values(["ts"] + (["timeframe"] if t == "ohlc_bars" else []))
                .reset_index(drop=True)
                for t in ("raw_ticks", "ticks", "ohlc_bars")}


def test_partition_materialized_three_times_leaves_identical_rows(instance, sample_dir, warehouse_url):
    snaps = []
    for _ in range(3):
        result = materialize_partition(instance, sample_dir, warehouse_url, DAY, INST)
        assert result.success
        snaps.append(snapshot(warehouse_url))

    assert len(snaps[0]["raw_ticks"]) == 4000 and len(snaps[0]["ticks"]) == 4000
    assert set(snaps[0]["ohlc_bars"]["timeframe"]) == {"1m", "5m", "15m", "1h", "4h", "1d"}
    for table in snaps[0]:
        pd.testing.assert_frame_equal(snaps[0][table], snaps[1][table])
        pd.testing.assert_frame_equal(snaps[0][table], snaps[2][table])


def test_materialization_metadata_reports_counts_range_and_reconciliation(instance, sample_dir, tmp_path):
    url = f"sqlite:///{tmp_path}/wh.db"

    result = materialize_partition(instance, sample_dir, url, DAY, INST)

    mats = {m.asset_key.path[-1]: m.metadata for m in result.get_asset_materialization_events()
            for m in [m.event_specific_data.materialization]}
    assert mats["sierra_ticks"]["rows_out"].value == 4000
    assert mats["validated_ticks"]["reconciled"].value is True
    assert mats["validated_ticks"]["quarantined"].value == 0
    assert mats["ohlc_bars"]["bars_per_timeframe/1d"].value == 1                 # a number, plottable
    first = datetime.fromtimestamp(mats["sierra_ticks"]["first_ts"].value, tz=UTC)  # a timestamp
    assert first.strftime("%Y-%m-%d %H") == "2024-03-10 22"


def test_bar_file_partition_builds_bars_from_its_base_bars(instance, sample_dir, tmp_path):
    url = f"sqlite:///{tmp_path}/wh.db"

    assert materialize_partition(instance, sample_dir, url, DAY, "GCJ24_FUT_COMEX").success

    with open_warehouse(url) as wh:
        assert wh.count("base_bars", partition_scope("GCJ24_FUT_COMEX", DAY)) == 23 * 60
        assert wh.count("ohlc_bars", {**partition_scope("GCJ24_FUT_COMEX", DAY), "timeframe": "1m"}) == 23 * 60
        assert wh.count("ticks") == 0


WRITER = """
import sys, time, numpy as np
from marketdata_assets.sources.sierra.scid import RECORD_DTYPE, SC_EPOCH_US
path, n, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rec = np.zeros(n, dtype=RECORD_DTYPE)
rec["dt"] = start + SC_EPOCH_US + np.arange(n) * 1000
rec["high"], rec["low"], rec["close"], rec["num_trades"], rec["total_volume"] = 100.25, 100.0, 100.25, 1, 1
data = rec.tobytes()
pause = int(sys.argv[4])                 # byte of the records to stop at, inside one, until told to go on
rng = np.random.default_rng(1)
pos = 0
while pos < len(data):
    step = int(rng.integers(1, 4000))          # arbitrary cuts: partial records happen
    if pos < pause <= pos + step:
        step = pause - pos
    with open(path, "ab") as fh:
        fh.write(data[pos:pos + step])
    pos += step
    if pos == pause:
        print("paused", flush=True)
        sys.stdin.readline()
    time.sleep(0.001)
print("done", flush=True)
"""


@pytest.mark.slow
def test_file_appended_while_partitions_load_loses_and_duplicates_nothing(instance, tmp_path, warehouse_url):
    data_dir = tmp_path / "sierra"
    data_dir.mkdir()
    path = data_dir / f"{INST}.scid"
    path.write_bytes(header_bytes())
    start = 1_710_108_000_000_000 + 60_000_000  # 2024-03-10 22:01 UTC: trading date 2024-03-11
    n = 20_000
    half = n // 2
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(n), str(start),
                               str(half * RECORD_SIZE + 17)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    # One load is certain to meet the file cut inside a record; the rest race the writer.
    assert writer.stdout.readline() == "paused\n"
    assert materialize_partition(instance, data_dir, warehouse_url, DAY, INST, selection=("sierra_ticks",)).success
    with open_warehouse(warehouse_url) as wh:
        mid = wh.count("raw_ticks", partition_scope(INST, DAY))
    writer.stdin.write("go\n")
    writer.stdin.flush()
    while writer.poll() is None:
        assert materialize_partition(instance, data_dir, warehouse_url, DAY, INST, selection=("sierra_ticks",)).success
    assert writer.wait() == 0
    assert materialize_partition(instance, data_dir, warehouse_url, DAY, INST).success

    with open_warehouse(warehouse_url) as wh:
        raw = wh.read("raw_ticks", partition_scope(INST, DAY))
        ticks = wh.count("ticks", partition_scope(INST, DAY))
    offsets = np.sort(raw["source_offset"].to_numpy())
    assert mid == half
    assert len(raw) == n and ticks == n
    assert np.array_equal(offsets, HEADER_SIZE + np.arange(n) * RECORD_SIZE)
    assert raw["ts"].is_unique


def test_corrupt_header_fails_the_run_with_file_and_reason(instance, tmp_path):
    data_dir = tmp_path / "sierra"
    data_dir.mkdir()
    (data_dir / f"{INST}.scid").write_bytes(b"SCIX" + header_bytes()[4:])

    result = materialize_partition(instance, data_dir, f"sqlite:///{tmp_path}/wh.db", DAY, INST,
                                   raise_on_error=False, selection=("sierra_ticks",))

    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "ESH24.scid" in failure.message and "bad magic" in failure.message


def test_nan_negative_and_crossed_prices_are_quarantined_not_lost(instance, sample_dir, tmp_path):
    data_dir = tmp_path / "sierra"
    data_dir.mkdir()
    rec = np.frombuffer((sample_dir / f"{INST}.scid").read_bytes()[HEADER_SIZE:], dtype=RECORD_DTYPE).copy()
    day_rows = np.flatnonzero((rec["dt"] - SC_EPOCH_US >= 1_710_108_000_000_000)
                              & (rec["num_trades"] == 1))[:3]
    rec["close"][day_rows[0]] = np.nan
    rec["close"][day_rows[1]] = -5.0
    rec["low"][day_rows[2]], rec["high"][day_rows[2]] = 6000.0, 5000.0   # bid above ask
    write_scid(data_dir / f"{INST}.scid", rec)
    url = f"sqlite:///{tmp_path}/wh.db"

    assert materialize_partition(instance, data_dir, url, DAY, INST).success

    with open_warehouse(url) as wh:
        q = wh.read("quarantine", partition_scope(INST, DAY), order_by=("source_offset",))
        kept = wh.count("ticks", partition_scope(INST, DAY))
    assert q["reason"].tolist() == ["price_not_finite_positive", "price_not_finite_positive", "bid_above_ask"]
    assert q["source_offset"].tolist() == [HEADER_SIZE + int(i) * RECORD_SIZE for i in day_rows]
    assert kept + len(q) == 4000
    assert '"price": -5.0' in q["raw"].iloc[1]


def test_truncated_file_loads_whole_records_and_the_rest_later(instance, sample_dir, tmp_path):
    data_dir = tmp_path / "sierra"
    data_dir.mkdir()
    full = (sample_dir / f"{INST}.scid").read_bytes()
    path = data_dir / f"{INST}.scid"
    path.write_bytes(full[: len(full) - 3 * RECORD_SIZE - 11])   # cut inside a record
    url = f"sqlite:///{tmp_path}/wh.db"

    assert materialize_partition(instance, data_dir, url, "2024-03-12", INST, selection=("sierra_ticks",)).success
    with open_warehouse(url) as wh:
        first = wh.count("raw_ticks", partition_scope(INST, "2024-03-12"))
    shutil.copy(sample_dir / f"{INST}.scid", path)
    assert materialize_partition(instance, data_dir, url, "2024-03-12", INST, selection=("sierra_ticks",)).success
    with open_warehouse(url) as wh:
        second = wh.count("raw_ticks", partition_scope(INST, "2024-03-12"))

    assert first == 4000 - 4
    assert second == 4000
    assert read_scid(sample_dir / f"{INST}.scid").rows == 16000
