"""Backups and restore on SQLite and the real PostgreSQL (pg_dump/pg_restore)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from marketdata_assets.cli import main
from marketdata_assets.defs.resources import WarehouseResource
from marketdata_assets.defs.storage.backups import BackupResource, warehouse_backup
from marketdata_assets.errors import ConfigError, StorageError
from marketdata_assets.storage.archive import archive_partition
from marketdata_assets.storage.backup import (
    fingerprint,
    restore_backup,
    scratch_warehouse,
    take_backup,
    verify_backup,
)
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets_tests.storage.archive_frames import DAY, NEXT, write_partitions
from marketdata_assets_tests.storage.killed_writer import frame
from marketdata_assets_tests.storage.test_archive import ORDER
from marketdata_assets_tests.storage.test_warehouse import _pg_copy_running, _sqlite_locked

SCOPE = partition_scope("ESH24", DAY)


@pytest.fixture
def filled(warehouse_url, tmp_path):
    with open_warehouse(warehouse_url) as wh:
        write_partitions(wh, DAY)
        write_partitions(wh, NEXT, shift_days=3)
        archive_partition(wh, str(tmp_path / "archive"), "ESH24", DAY)
    return warehouse_url


def _reads(url: str) -> dict[str, pd.DataFrame]:
    with open_warehouse(url) as wh:
        return {name: wh.read(name, {"instrument": "ESH24"}, order_by=cols) for name, cols in ORDER.items()}


def test_backup_wipe_restore_gives_identical_tables_and_reads(filled, tmp_path):
    backup = take_backup(filled, tmp_path / "backups")
    with open_warehouse(filled) as wh:
        before = fingerprint(wh)
    reads = _reads(filled)

    with scratch_warehouse(filled, tmp_path) as empty:
        restored = restore_backup(backup.path, empty)
        after = _reads(empty)

    assert backup.tables == before == restored
    assert backup.tables["archive_manifest"]["rows"] == 6 and len(backup.archive_files) == 6
    for name, frame_ in reads.items():
        pd.testing.assert_frame_equal(frame_, after[name], obj=name)


def test_restore_refuses_a_non_empty_warehouse_unless_forced(filled, tmp_path):
    backup = take_backup(filled, tmp_path / "backups")
    with open_warehouse(filled) as wh:
        later = frame(5, "later").assign(trading_date="2024-03-12", ts=lambda f: f["ts"] + pd.Timedelta(days=4))
        wh.replace_partition("ticks", later, partition_scope("ESH24", "2024-03-12"))

    with pytest.raises(StorageError, match="not empty"):
        restore_backup(backup.path, filled)
    restored = restore_backup(backup.path, filled, force=True)

    assert restored == backup.tables


def test_verification_names_the_table_a_damaged_backup_lost(tmp_path):
    url = f"sqlite:///{tmp_path}/w.db"
    with open_warehouse(url) as wh:
        write_partitions(wh, NEXT)
    backup = take_backup(url, tmp_path / "backups")
    with sqlite3.connect(backup.path) as conn:
        conn.execute("DELETE FROM base_bars WHERE rowid IN (SELECT rowid FROM base_bars LIMIT 1)")

    check = verify_backup(backup, url)

    assert not check.ok
    assert list(check.mismatches) == ["base_bars"]


def test_postgres_backup_without_client_tools_says_what_is_missing(pg_database, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(ConfigError, match="pg_dump not found.*PostgreSQL client tools"):
        take_backup(pg_database, tmp_path / "backups")


@pytest.mark.slow
def test_backup_taken_during_a_partition_write_restores_it_wholly_before_or_after(warehouse_url, tmp_path):
    with open_warehouse(warehouse_url) as wh:
        wh.replace_partition("ticks", frame(1000, "old"), SCOPE)
    in_write = (lambda: _sqlite_locked(warehouse_url[len("sqlite:///"):])) if warehouse_url.startswith("sqlite") \
        else (lambda: _pg_copy_running(warehouse_url))
    writer = subprocess.Popen([sys.executable, "-m", "marketdata_assets_tests.storage.writer_process",
                               warehouse_url, "1500000"], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        deadline = time.monotonic() + 120
        while not in_write() and writer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        backup = take_backup(warehouse_url, tmp_path / "backups")
        assert writer.wait(300) == 0
    finally:
        writer.kill()

    with scratch_warehouse(warehouse_url, tmp_path) as empty:
        restore_backup(backup.path, empty)
        with open_warehouse(empty) as wh:
            rows = wh.read("ticks", SCOPE, columns=["run_id"])
    runs = rows["run_id"].value_counts().to_dict()
    assert runs in ({"old": 1000}, {"new": 1_500_000})


def test_backup_asset_reports_a_passing_check_and_keeps_the_newest(filled, tmp_path):
    store = BackupResource(directory=str(tmp_path / "backups"), keep=2)
    with dg.instance_for_test() as instance:
        for _ in range(3):
            result = dg.materialize([warehouse_backup], instance=instance,
                                    resources={"warehouse": WarehouseResource(url=filled), "backup_store": store})

    checks = result.get_asset_check_evaluations()
    assert result.success and [c.passed for c in checks] == [True]
    assert len([p for p in Path(tmp_path / "backups").iterdir() if p.suffix in (".sqlite", ".dump")]) == 2


def test_cli_backup_then_restore_into_an_empty_warehouse(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path}/w.db"
    with open_warehouse(url) as wh:
        write_partitions(wh, DAY)
    monkeypatch.setenv("MARKETDATA_WAREHOUSE_URL", url)

    assert main(["backup", "--to", str(tmp_path / "b")]) == 0
    file = next((tmp_path / "b").glob("*.sqlite"))
    assert main(["restore", str(file), "--to", f"sqlite:///{tmp_path}/new.db"]) == 0
    assert main(["restore", str(file), "--to", url]) == 1

    err = capsys.readouterr().err
    assert "not empty" in err and "--force" in err
