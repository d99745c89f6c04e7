"""The cold_archive asset and the archive_nightly schedule: which partitions go cold and when."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pandas as pd
import pytest

from marketdata_assets.definitions import build_defs
from marketdata_assets.defs.partitions import instrument_partitions, key_for
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.defs.storage.assets import cold_archive
from marketdata_assets.defs.storage.resources import ArchiveResource
from marketdata_assets.defs.storage.schedules import archive_nightly
from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.pipelines.storage import archive_candidates
from marketdata_assets.storage.archive import manifest
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets_tests.storage.archive_frames import write_partitions
from marketdata_assets_tests.storage.killed_writer import frame

# 2024-04-08 22:30 UTC = 17:30 Chicago: CME's trading date is already 2024-04-09
NOW = pd.Timestamp("2024-04-08T22:30:00Z")


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(instrument_partitions.name, ["ESH24"])
        yield inst


def _ticks_on(wh, day: str) -> None:
    shift = pd.Timestamp(day, tz="UTC") - pd.Timestamp("2024-03-08", tz="UTC")
    rows = frame(3, "r").assign(trading_date=day, ts=lambda f: f["ts"] + shift)
    wh.replace_partition("ticks", rows, partition_scope("ESH24", day))


def test_partitions_older_than_the_hot_window_of_the_instruments_trading_date_are_due(warehouse):
    for day in ("2024-03-08", "2024-03-09", "2024-03-10", "2024-04-01"):
        _ticks_on(warehouse, day)

    due = archive_candidates(warehouse, NOW, 30, market_for_instrument)

    # current CME trading date 2024-04-09 − 30 days = 2024-03-10: strictly older ones only
    assert due == [("ESH24", "2024-03-08"), ("ESH24", "2024-03-09")]


def test_already_archived_partitions_are_not_due_again(warehouse, tmp_path):
    _ticks_on(warehouse, "2024-03-08")
    from marketdata_assets.storage.archive import archive_partition

    archive_partition(warehouse, str(tmp_path), "ESH24", "2024-03-08")

    assert archive_candidates(warehouse, NOW, 30, market_for_instrument) == []


def test_nightly_schedule_requests_one_run_per_due_partition(instance, warehouse_url, tmp_path):
    with open_warehouse(warehouse_url) as wh:
        for day in ("2024-03-01", "2024-03-05", "2024-04-05"):
            _ticks_on(wh, day)
    # closed by ``with``: the instance the context opens must not outlive the test (DefsStateStorage)
    with dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2024, 4, 8, 22, 30, tzinfo=UTC),
            resources={"warehouse": WarehouseResource(url=warehouse_url), "sierra": SierraResource(),
                       "archive_store": ArchiveResource(url=str(tmp_path), hot_days=30)}) as context:
        requests = archive_nightly(context)

    assert [r.partition_key for r in requests] == [key_for("2024-03-01", "ESH24"), key_for("2024-03-05", "ESH24")]


def test_nightly_schedule_of_the_built_definitions_requests_no_date_before_the_partitions_start(
        instance, warehouse_url, tmp_path, monkeypatch):
    monkeypatch.setenv("MARKETDATA_PARTITIONS_START", "2024-03-04")
    with open_warehouse(warehouse_url) as wh:
        for day in ("2024-03-01", "2024-03-05", "2024-04-05"):
            _ticks_on(wh, day)
    defs = build_defs()
    with dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2024, 4, 8, 22, 30, tzinfo=UTC),
            repository_def=defs.get_repository_def(),
            resources={"warehouse": WarehouseResource(url=warehouse_url), "sierra": SierraResource(),
                       "archive_store": ArchiveResource(url=str(tmp_path), hot_days=30)}) as context:
        requests = archive_nightly(context)

    # 2024-03-01 is due but has no partition (records before the start are quarantined, not loaded)
    assert [r.partition_key for r in requests] == [key_for("2024-03-05", "ESH24")]
    job_dates = defs.get_job_def("cold_archive_job").partitions_def.get_partitions_def_for_dimension("date")
    assert job_dates.get_first_partition_key() == "2024-03-04"


def test_materializing_cold_archive_moves_the_partition_and_reports_its_manifest_table(
        instance, warehouse_url, tmp_path):
    tables = ("ticks", "raw_ticks", "ohlc_bars", "base_bars", "indicators", "quarantine")
    with open_warehouse(warehouse_url) as wh:
        write_partitions(wh, "2024-03-08")
        hot = {t: wh.count(t, partition_scope("ESH24", "2024-03-08")) for t in tables}

    result = dg.materialize([cold_archive], partition_key=key_for("2024-03-08", "ESH24"), instance=instance,
                            resources={"warehouse": WarehouseResource(url=warehouse_url),
                                       "archive_store": ArchiveResource(url=str(tmp_path))})

    meta = result.asset_materializations_for_node("cold_archive")[0].metadata
    assert result.success
    assert meta["dagster/table_name"].value == "archive_manifest"
    assert meta["dagster/row_count"].value == 6                      # the partition's manifest rows
    schema = meta["dagster/column_schema"].schema
    assert [c.name for c in schema.columns] == ["table_name", "instrument", "trading_date", "path", "rows", "bytes",
                                                "sha256", "min_ts", "max_ts", "schema_version", "archived_at"]
    assert all(c.description for c in schema.columns)
    assert {t: meta[f"archived_rows/{t}"].value for t in tables} == hot
    assert meta["archived_rows"].value == sum(hot.values()) > 0
    with open_warehouse(warehouse_url) as wh:
        assert len(manifest(wh)) == 6
        assert wh.read_hot("ticks").empty
