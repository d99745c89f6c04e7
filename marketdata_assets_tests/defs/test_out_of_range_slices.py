"""``sierra_ticks`` reads a file in bounded slices and streams the quarantine rows of its
out-of-range records into its one transaction (pipelines/sierra/read.py). With slices of a
few records the routing crosses slice boundaries everywhere: the rows must be exactly
those of a whole-file read, a re-run must not duplicate them, and every quarantined row
keeps its file and byte offset."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.pipelines.sierra import read as sierra_read
from marketdata_assets.pipelines.sierra.ticks import load_raw
from marketdata_assets.sources.sierra.scid import HEADER_SIZE, RECORD_DTYPE, RECORD_SIZE
from marketdata_assets.storage.warehouse import open_warehouse
from marketdata_assets.testkit.sierra_sample import write_scid
from marketdata_assets.transforms.partition_dates import OUT_OF_RANGE

from . import test_out_of_range_records as whole_file
from .test_out_of_range_records import BEFORE_START, DATES, HOSTILE, MAR08, MAR11, counts, load, scid

# the whole-file scenarios again, here in slices of 3 records (the autouse fixture below)
test_every_record_once_in_slices_of_three = whole_file.test_every_record_is_loaded_or_quarantined_exactly_once
test_appended_out_of_range_records_in_slices_of_three = (
    whole_file.test_out_of_range_records_appended_later_are_quarantined_by_the_partition_they_follow)


@pytest.fixture(autouse=True)
def tiny_slices(monkeypatch):
    monkeypatch.setattr(sierra_read, "ROUTE_RECORDS", 3)
    monkeypatch.setattr(sierra_read, "QUARANTINE_ROWS", 2)


def offsets(positions):
    return [HEADER_SIZE + k * RECORD_SIZE for k in positions]


def test_a_file_of_out_of_range_records_is_quarantined_slice_by_slice_once(warehouse_url, tmp_path):
    # 20 records before the partitions, then one in range: all 20 owned by its partition (03-11)
    dts = [BEFORE_START + k for k in range(20)] + [MAR11]
    path = scid(tmp_path / "ESM24.scid", dts)

    first = load(warehouse_url, path, "2024-03-11")
    again = load(warehouse_url, path, "2024-03-11")   # nothing new past the checkpoint

    raw, q = counts(warehouse_url, "2024-03-11")
    assert raw == 1
    assert q["source_offset"].tolist() == offsets(range(20))
    assert set(q["reason"]) == {OUT_OF_RANGE} and set(q["source"]) == {str(path.resolve())}
    assert (first.details["appended_out_of_range"], again.details["appended_out_of_range"]) == (20, 0)


def test_a_full_refresh_rewrites_the_streamed_quarantine_without_duplicates(warehouse_url, tmp_path):
    dts = [MAR08, *HOSTILE, MAR08 + 1, *HOSTILE, MAR11, BEFORE_START, MAR11 + 1]
    path = scid(tmp_path / "ESM24.scid", dts)

    for _ in range(2):
        with open_warehouse(warehouse_url) as wh:
            for day in (date(2024, 3, 8), date(2024, 3, 11)):
                load_raw(wh, path, "ESM24", market_for_instrument("ESM24"), day, "r", full_refresh=True, dates=DATES)

    raw08, q08 = counts(warehouse_url, "2024-03-08")
    raw11, q11 = counts(warehouse_url, "2024-03-11")
    n = len(HOSTILE)
    assert (raw08, raw11) == (2, 2)
    assert q08["source_offset"].tolist() == offsets([*range(1, 1 + n), *range(2 + n, 2 + 2 * n)])
    assert q11["source_offset"].tolist() == offsets([3 + 2 * n])
    assert raw08 + raw11 + len(q08) + len(q11) == len(dts)


def test_out_of_range_records_at_the_head_of_a_resumed_read_follow_the_partition_before_them(warehouse_url,
                                                                                              tmp_path):
    path = scid(tmp_path / "ESM24.scid", [MAR08 + k for k in range(7)])
    load(warehouse_url, path, "2024-03-08")
    rec = np.zeros(8, dtype=RECORD_DTYPE)
    rec["dt"] = [BEFORE_START + k for k in range(8)]   # appended: no in-range record after them
    write_scid(path, rec, append=True)

    appended = load(warehouse_url, path, "2024-03-08")

    raw, q = counts(warehouse_url, "2024-03-08")
    assert (raw, appended.details["appended_out_of_range"]) == (7, 8)
    assert q["source_offset"].tolist() == offsets(range(7, 15))
