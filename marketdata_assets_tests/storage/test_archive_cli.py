"""``marketdata archive restore`` / ``verify``: exit codes and messages that name the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketdata_assets.cli import main
from marketdata_assets.storage.archive import manifest
from marketdata_assets.storage.archive_files import partition_uri
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets_tests.storage.archive_frames import DAY, NEXT, write_partitions


@pytest.fixture
def env(warehouse_url, tmp_path, monkeypatch):
    root = tmp_path / "archive"
    monkeypatch.setenv("MARKETDATA_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("MARKETDATA_ARCHIVE_URL", str(root))
    with open_warehouse(warehouse_url) as wh:
        write_partitions(wh, DAY)
        write_partitions(wh, NEXT, shift_days=3)
    for day in (DAY, NEXT):
        assert main(["archive", "partition", "--instrument", "ESH24", "--date", day]) == 0
    return warehouse_url, root


def test_restore_brings_back_both_dates_of_an_inclusive_range(env, capsys):
    url, _ = env

    code = main(["archive", "restore", "--instrument", "ESH24", "--from", DAY, "--to", NEXT])

    assert code == 0
    assert "12 archived table partitions restored" in capsys.readouterr().out
    with open_warehouse(url) as wh:
        assert manifest(wh).empty
        assert len(wh.read_hot("ticks", partition_scope("ESH24", NEXT))) == 50


def test_restore_refuses_a_corrupt_file_with_its_name_and_keeps_it_archived(env, capsys):
    url, root = env
    bad = Path(partition_uri(str(root), "base_bars", "ESH24", DAY))
    bad.write_bytes(b"x" + bad.read_bytes()[1:])

    code = main(["archive", "restore", "--instrument", "ESH24", "--from", DAY, "--to", DAY])

    assert code == 1
    assert str(bad) in capsys.readouterr().err
    with open_warehouse(url) as wh:
        assert "base_bars" in set(manifest(wh)["table_name"])
        assert wh.read_hot("base_bars", partition_scope("ESH24", DAY)).empty


def test_verify_reports_missing_and_corrupt_files_by_name(env, capsys):
    _, root = env
    assert main(["archive", "verify"]) == 0
    gone = Path(partition_uri(str(root), "ticks", "ESH24", NEXT))
    gone.unlink()
    bad = Path(partition_uri(str(root), "quarantine", "ESH24", DAY))
    bad.write_bytes(bad.read_bytes() + b"!")
    capsys.readouterr()

    code = main(["archive", "verify"])

    out = capsys.readouterr().out
    assert code == 1
    assert f"missing: {gone}" in out and f"corrupt: {bad}" in out
    assert "12 files checked, 1 missing, 1 corrupt" in out
