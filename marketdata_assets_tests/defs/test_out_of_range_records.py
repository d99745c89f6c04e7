"""Records outside every date partition (invalid DateTime, before the start, after tomorrow)
are quarantined once, by the partition of their nearest in-range neighbour, never dropped
past the checkpoint; sierra_ticks reports them in its metadata."""

from __future__ import annotations

import time
from datetime import date

import dagster as dg
import numpy as np
import pytest

from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.pipelines.sierra.ticks import load_raw
from marketdata_assets.sources.sierra.scid import HEADER_SIZE, RECORD_DTYPE, RECORD_SIZE, SC_EPOCH_US
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets.testkit.sierra_sample import write_scid
from marketdata_assets.transforms.partition_dates import OUT_OF_RANGE, DateRange
from marketdata_assets_tests.defs.helpers import materialize_partition

INT64_MIN, INT64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max
MAR08 = SC_EPOCH_US + 1_709_910_000_000_000   # 2024-03-08 15:00 UTC (CME trading date 2024-03-08)
MAR11 = SC_EPOCH_US + 1_710_169_200_000_000   # 2024-03-11 15:00 UTC (trading date 2024-03-11)
BEFORE_START = SC_EPOCH_US + 1_577_750_400_000_000   # 2019-12-31
DATES = DateRange(date(2020, 1, 1), date.today())
HOSTILE = [0, -1, INT64_MAX, INT64_MIN, int(np.array([1e300]).view(np.int64)[0]), 0x41F0_0000_0000_0000,
           BEFORE_START]


def scid(path, dts):
    rec = np.zeros(len(dts), dtype=RECORD_DTYPE)
    rec["dt"] = np.array(dts, dtype=np.int64)
    rec["close"], rec["high"], rec["low"], rec["num_trades"], rec["total_volume"] = 5000, 5000.25, 5000, 1, 1
    return write_scid(path, rec)


def counts(url, day):
    scope = partition_scope("ESM24", day)
    with open_warehouse(url) as wh:
        q = wh.read("quarantine", {**scope, "stage": "sierra_ticks"}, order_by=("source_offset",))
        return wh.count("raw_ticks", scope), q


def load(url, path, day, dates=DATES):
    with open_warehouse(url) as wh:
        return load_raw(wh, path, "ESM24", market_for_instrument("ESM24"), date.fromisoformat(day), "r", dates=dates)


def test_every_record_is_loaded_or_quarantined_exactly_once(warehouse_url, tmp_path):
    future = SC_EPOCH_US + int((time.time() + 5 * 86_400) * 1e6)
    # head: out of range before any in-range record → owned by the first in-range one (03-08)
    dts = [0, MAR08, *HOSTILE, MAR08 + 1, MAR11, future, INT64_MIN, MAR11 + 1]
    path = scid(tmp_path / "ESM24.scid", dts)

    for _ in range(2):  # a re-run changes nothing
        first = load(warehouse_url, path, "2024-03-08")
        load(warehouse_url, path, "2024-03-11")

    raw08, q08 = counts(warehouse_url, "2024-03-08")
    raw11, q11 = counts(warehouse_url, "2024-03-11")
    assert (raw08, raw11) == (2, 2)
    assert raw08 + raw11 + len(q08) + len(q11) == len(dts)
    assert set(q08["reason"]) == set(q11["reason"]) == {OUT_OF_RANGE}
    offset = [HEADER_SIZE + k * RECORD_SIZE for k in range(len(dts))]
    assert q08["source_offset"].tolist() == [offset[0], *offset[2:9]]
    assert q11["source_offset"].tolist() == [offset[11], offset[12]]
    assert q08["ts"].isna().tolist() == [False, False, True, True, True, True, True, False]
    assert first.details["quarantined_out_of_range"] == 8


def test_out_of_range_records_appended_later_are_quarantined_by_the_partition_they_follow(warehouse_url, tmp_path):
    path = scid(tmp_path / "ESM24.scid", [MAR08, MAR08 + 1])
    load(warehouse_url, path, "2024-03-08")
    rec = np.zeros(2, dtype=RECORD_DTYPE)
    rec["dt"] = [INT64_MAX, BEFORE_START]
    write_scid(path, rec, append=True)

    appended = load(warehouse_url, path, "2024-03-08")

    raw, q = counts(warehouse_url, "2024-03-08")
    assert (raw, len(q), appended.details["appended_out_of_range"]) == (2, 2, 2)


def test_records_before_the_configured_start_are_quarantined_not_dropped(warehouse_url, tmp_path):
    path = scid(tmp_path / "ESM24.scid", [MAR08, MAR11])

    load(warehouse_url, path, "2024-03-11", dates=DateRange(date(2024, 3, 11), date.today()))

    raw, q = counts(warehouse_url, "2024-03-11")
    assert (raw, q["reason"].tolist(), q["source_offset"].tolist()) == (1, [OUT_OF_RANGE], [HEADER_SIZE])


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_sierra_ticks_metadata_shows_the_quarantined_out_of_range_records(instance, tmp_path):
    data_dir = tmp_path / "sierra"
    data_dir.mkdir()
    scid(data_dir / "ESM24.scid", [MAR08, *HOSTILE, MAR08 + 1])

    result = materialize_partition(instance, data_dir, f"sqlite:///{tmp_path}/wh.db", "2024-03-08", "ESM24",
                                   selection=("sierra_ticks",))

    meta = result.asset_materializations_for_node("sierra_ticks")[0].metadata
    assert meta["quarantined_out_of_range"].value == len(HOSTILE)
    assert meta["appended_rows"].value == 2


def test_tomorrows_records_wait_for_their_partition_instead_of_being_quarantined(warehouse_url, tmp_path):
    from datetime import UTC, datetime, timedelta

    tomorrow = date.today() + timedelta(days=1)
    noon = int(datetime.combine(tomorrow, datetime.min.time(), UTC).timestamp() * 1e6) + 43_200_000_000
    rec = np.zeros(2, dtype=RECORD_DTYPE)
    rec["dt"] = [SC_EPOCH_US + 1_709_899_200_000_000, SC_EPOCH_US + noon]   # 2024-03-08 12:00 UTC, tomorrow 12:00
    rec["close"], rec["high"], rec["low"], rec["num_trades"], rec["total_volume"] = 60000, 60000.5, 60000, 1, 1
    path = write_scid(tmp_path / "BTCUSDT.scid", rec)
    market, today = market_for_instrument("BTCUSDT"), DateRange(date(2020, 1, 1), date.today(), tomorrow)

    with open_warehouse(warehouse_url) as wh:
        load_raw(wh, path, "BTCUSDT", market, date(2024, 3, 8), "r", dates=today)
        waiting = (wh.count("raw_ticks"), wh.count("quarantine"))
        load_raw(wh, path, "BTCUSDT", market, tomorrow, "r", dates=DateRange(date(2020, 1, 1), tomorrow))
        later = (wh.count("raw_ticks", partition_scope("BTCUSDT", tomorrow)), wh.count("quarantine"))

    assert waiting == (1, 0)
    assert later == (1, 0)
