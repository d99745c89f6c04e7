"""The cold archive on SQLite and the real PostgreSQL: verified moves, transparent reads,
rewrites of archived partitions, restore, verify, and a killed archiver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from marketdata_assets.storage.archive import archive_partition, manifest, restore_partitions, verify_archive
from marketdata_assets.storage.archive_files import ArchiveChecksumError, partition_uri
from marketdata_assets.storage.warehouse import Checkpoint, PartitionWrite, open_warehouse, partition_scope
from marketdata_assets.storage.warehouse.schema import ARCHIVED_TABLES
from marketdata_assets_tests.storage.archive_frames import DAY, NEXT, write_partitions
from marketdata_assets_tests.storage.killed_writer import frame

ORDER = {"ticks": ("ts",), "raw_ticks": ("source_offset",), "ohlc_bars": ("timeframe", "ts"),
         "base_bars": ("ts",), "indicators": ("timeframe", "ts"), "quarantine": ("reason",)}
SCOPE = partition_scope("ESH24", DAY)


@pytest.fixture
def root(tmp_path) -> str:
    return str(tmp_path / "archive")


@pytest.fixture
def two_days(warehouse):
    write_partitions(warehouse, DAY)
    write_partitions(warehouse, NEXT, shift_days=3)
    return warehouse


def _everything(wh) -> dict[str, pd.DataFrame]:
    return {name: wh.read(name, {"instrument": "ESH24"}, order_by=ORDER[name]) for name in ARCHIVED_TABLES}


def test_archived_partition_reads_back_identical_with_the_hot_one(two_days, root):
    before = _everything(two_days)

    done = archive_partition(two_days, root, "ESH24", DAY)

    assert sorted(a.table for a in done) == sorted(ARCHIVED_TABLES)
    after = _everything(two_days)
    for name in ARCHIVED_TABLES:
        assert two_days.read_hot(name, SCOPE).empty, name                  # gone from hot storage
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)  # same rows, dtypes, order


def test_archive_files_are_zstd_parquet_sorted_by_ts_in_hive_layout(two_days, root):
    archive_partition(two_days, root, "ESH24", DAY)

    path = Path(partition_uri(root, "ticks", "ESH24", DAY))
    meta = pq.ParquetFile(path).metadata
    table = pq.read_table(path)
    assert path.relative_to(root).parts[:3] == ("table=ticks", "instrument=ESH24", f"date={DAY}")
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert table.column("ts").to_pandas().is_monotonic_increasing
    assert str(table.schema.field("ts").type) == "timestamp[us, tz=UTC]"


def test_counts_spans_totals_and_filtered_reads_include_cold_rows(two_days, root):
    counts = {n: two_days.count(n) for n in ARCHIVED_TABLES}
    spans, total = two_days.spans("ticks"), two_days.total("base_bars", "quality_score")
    per_day = two_days.partition_counts("ohlc_bars", {"instrument": "ESH24", "timeframe": "5m"})
    buys = two_days.read("ticks", {**SCOPE, "aggressor": 1}, columns=["ts", "aggressor"], order_by=("ts",))

    archive_partition(two_days, root, "ESH24", DAY)

    assert {n: two_days.count(n) for n in ARCHIVED_TABLES} == counts
    assert two_days.count("ticks", {**SCOPE, "aggressor": 1}) == len(buys) == 25
    pd.testing.assert_frame_equal(two_days.spans("ticks"), spans)
    assert two_days.total("base_bars", "quality_score") == total
    pd.testing.assert_frame_equal(
        two_days.partition_counts("ohlc_bars", {"instrument": "ESH24", "timeframe": "5m"}), per_day)
    pd.testing.assert_frame_equal(
        two_days.read("ticks", {**SCOPE, "aggressor": 1}, columns=["ts", "aggressor"], order_by=("ts",)), buys)
    assert two_days.read("ticks", dates=(NEXT, None))["trading_date"].unique().tolist() == [NEXT]


def test_archiving_twice_or_an_empty_partition_does_nothing(two_days, root):
    archive_partition(two_days, root, "ESH24", DAY)

    assert archive_partition(two_days, root, "ESH24", DAY) == []
    assert archive_partition(two_days, root, "ESH24", "2024-01-02") == []
    assert len(manifest(two_days)) == len(ARCHIVED_TABLES)


def test_rewriting_an_archived_partition_replaces_it_and_drops_the_file(two_days, root):
    archive_partition(two_days, root, "ESH24", DAY)
    path = Path(partition_uri(root, "ticks", "ESH24", DAY))

    two_days.replace_partition("ticks", frame(7, "again"), SCOPE)

    assert two_days.count("ticks", SCOPE) == 7
    assert two_days.read("ticks", SCOPE)["run_id"].unique().tolist() == ["again"]
    assert not path.exists()
    assert "ticks" not in set(manifest(two_days)["table_name"])
    assert two_days.count("ohlc_bars", SCOPE) == 20            # other tables stay archived


def test_narrow_rewrite_of_an_archived_partition_restores_the_rest_first(two_days, root):
    before = two_days.read("raw_ticks", SCOPE, order_by=("source_offset",))
    archive_partition(two_days, root, "ESH24", DAY)
    tail = before.iloc[40:].assign(run_id="tail")

    two_days.replace_partition("raw_ticks", tail, SCOPE, min_offset=int(tail["source_offset"].iloc[0]))

    after = two_days.read("raw_ticks", SCOPE, order_by=("source_offset",))
    assert after["run_id"].tolist() == ["r1"] * 40 + ["tail"] * 10
    assert len(two_days.read_hot("raw_ticks", SCOPE)) == 50     # all hot again, nothing cold
    assert "raw_ticks" not in set(manifest(two_days)["table_name"])


def _version(wh) -> int:
    return int(wh.read("partition_versions", SCOPE)["version"].iloc[0])


def test_one_multi_table_write_takes_every_archived_table_back_and_bumps_the_version_once(two_days, root):
    archive_partition(two_days, root, "ESH24", DAY)
    version = _version(two_days)
    cold_quarantine = two_days.read("quarantine", SCOPE, order_by=("reason",))
    late = cold_quarantine.iloc[:1].assign(stage="sierra_ticks", reason="timestamp_out_of_range", run_id="w")
    checkpoint = Checkpoint("/data/ESH24.scid", "ESH24", date.fromisoformat(DAY), "fp", 99, 99, None, "w")

    counts = two_days.replace_partitions([
        PartitionWrite("ticks", frame(7, "w"), SCOPE),                                  # whole partition
        PartitionWrite("quarantine", late, {**SCOPE, "stage": "sierra_ticks"}),        # one stage only
    ], checkpoint=checkpoint)

    assert counts == [7, 1]
    assert _version(two_days) == version + 1
    assert two_days.read_hot("ticks", SCOPE)["run_id"].unique().tolist() == ["w"]
    quarantine = two_days.read_hot("quarantine", SCOPE)              # the cold stage restored, hot again
    assert sorted(quarantine["stage"]) == ["sierra_ticks"] + ["validated_ticks"] * len(cold_quarantine)
    assert set(manifest(two_days)["table_name"]) == set(ARCHIVED_TABLES) - {"ticks", "quarantine"}
    assert not Path(partition_uri(root, "ticks", "ESH24", DAY)).exists()
    assert not Path(partition_uri(root, "quarantine", "ESH24", DAY)).exists()
    assert two_days.get_checkpoint("/data/ESH24.scid", DAY).byte_offset == 99


def test_restore_brings_partitions_back_hot_with_identical_rows(two_days, root):
    before = _everything(two_days)
    archive_partition(two_days, root, "ESH24", DAY)
    archive_partition(two_days, root, "ESH24", NEXT)

    restored = restore_partitions(two_days, "ESH24", DAY, NEXT)

    assert len(restored) == 2 * len(ARCHIVED_TABLES)
    assert manifest(two_days).empty
    assert not list(Path(root).rglob("*.parquet"))
    for name, rows in _everything(two_days).items():
        pd.testing.assert_frame_equal(before[name], rows, obj=name)
        assert len(two_days.read_hot(name, {"instrument": "ESH24"})) == len(rows)


def test_restore_refuses_a_corrupt_file_and_leaves_the_partition_archived(two_days, root):
    archive_partition(two_days, root, "ESH24", DAY, tables=("ticks",))
    path = Path(partition_uri(root, "ticks", "ESH24", DAY))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    with pytest.raises(ArchiveChecksumError, match="ESH24_2024-03-08"):
        restore_partitions(two_days, "ESH24", DAY, DAY)

    assert two_days.read_hot("ticks", SCOPE).empty
    assert manifest(two_days)["table_name"].tolist() == ["ticks"]


def test_verify_names_missing_and_corrupt_files(two_days, root):
    archive_partition(two_days, root, "ESH24", DAY, tables=("ticks", "ohlc_bars", "base_bars"))
    gone = Path(partition_uri(root, "ticks", "ESH24", DAY))
    bad = Path(partition_uri(root, "ohlc_bars", "ESH24", DAY))
    gone.unlink()
    bad.write_bytes(bad.read_bytes()[:-10] + b"0123456789")

    report = verify_archive(two_days)

    assert report.checked == 3 and not report.ok
    assert report.missing == [str(gone)]
    assert report.corrupt == [str(bad)]


def _manifest_rows(url: str) -> int:
    with open_warehouse(url) as wh:
        return len(wh.read_hot("archive_manifest"))


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["temporary file written", "final file renamed"])
def test_archiver_killed_at_any_moment_leaves_hot_rows_or_a_verified_file(warehouse_url, tmp_path, moment):
    rows = 300_000
    with open_warehouse(warehouse_url) as wh:
        wh.replace_partition("ticks", frame(rows, "old"), SCOPE)
    root = tmp_path / "archive"
    folder = Path(partition_uri(str(root), "ticks", "ESH24", DAY)).parent
    seen = (lambda: folder.exists() and any(p.name.endswith(".tmp") for p in folder.iterdir())) \
        if moment == "temporary file written" else (lambda: folder.exists() and any(folder.glob("*.parquet")))
    proc = subprocess.Popen([sys.executable, "-m", "marketdata_assets_tests.storage.killed_archiver",
                             warehouse_url, str(root)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        deadline = time.monotonic() + 120
        while not seen() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.0005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()

    with open_warehouse(warehouse_url) as wh:
        deadline = time.monotonic() + 30   # PostgreSQL rolls back once it sees the socket close
        while time.monotonic() < deadline:
            try:
                n = wh.count("ticks", SCOPE)
                break
            except Exception:
                time.sleep(0.05)
        hot = len(wh.read_hot("ticks", SCOPE))
        cold = manifest(wh)
        report = verify_archive(wh)
    assert n == rows                                     # never neither, never twice
    assert (hot, len(cold)) in ((rows, 0), (0, 1))        # hot rows, or a manifest row …
    assert report.ok                                     # … whose file verifies
