"""The .depth reader: header validation, whole batches only, file names with dotted symbols."""

from __future__ import annotations

import struct
from datetime import date

import numpy as np
import pytest

from marketdata_assets.errors import CorruptFile, InvalidInstrument
from marketdata_assets.sources.sierra.depth import HEADER_SIZE, RECORD_SIZE, parse_depth_name, read_depth
from marketdata_assets.sources.sierra.depth_writer import depth_header_bytes, depth_records, write_depth
from marketdata_assets.sources.sierra.scid import SC_EPOCH_US

T0 = 1_758_585_600_000_000  # 2025-09-23 00:00 UTC


def test_records_decode_with_every_field(tmp_path):
    rec = depth_records([T0, T0, T0 + 5], [1, 2, 3], [0, 0, 1], [0.0, 100.25, 100.5], [0, 7, 9], [0, 3, 4])
    path = write_depth(tmp_path / "ESZ5.CME.2025-09-23.depth", rec)

    chunk = read_depth(path)

    assert chunk.rows == 3
    assert chunk.columns["ts"].tolist() == [T0, T0, T0 + 5]
    assert chunk.columns["command"].tolist() == [1, 2, 3]
    assert chunk.columns["flags"].tolist() == [0, 0, 1]
    assert chunk.columns["num_orders"].tolist() == [0, 3, 4]
    assert chunk.columns["price"].tolist() == [0.0, 100.25, 100.5]
    assert chunk.columns["quantity"].tolist() == [0, 7, 9]
    assert chunk.offsets().tolist() == [64, 88, 112]
    assert chunk.end_offset == HEADER_SIZE + 3 * RECORD_SIZE


def test_batch_not_closed_at_file_end_is_left_for_next_read(tmp_path):
    closed = depth_records([T0, T0], [1, 2], [0, 1], [0, 100.0], [0, 1])
    open_batch = depth_records([T0 + 1, T0 + 1], [3, 3], [0, 0], [101.0, 101.25], [2, 2])
    path = write_depth(tmp_path / "X.2025-09-23.depth", np.concatenate([closed, open_batch]))
    with open(path, "ab") as fh:
        fh.write(b"\x01" * 10)  # half a record

    first = read_depth(path)
    assert first.rows == 2 and first.pending_records == 2 and first.trailing_bytes == 10
    assert first.end_offset == HEADER_SIZE + 2 * RECORD_SIZE

    # Sierra Chart finishes the record and closes the batch
    path.write_bytes(depth_header_bytes() + np.concatenate(
        [closed, open_batch, depth_records([T0 + 2], [0], [1], [0.0], [0])]).tobytes())
    second = read_depth(path, start_offset=first.end_offset)
    assert second.columns["command"].tolist() == [3, 3, 0]
    assert second.offsets().tolist() == [112, 136, 160]


@pytest.mark.parametrize("mutate, offset, message", [
    (lambda h: b"SCDX" + h[4:], 0, "bad magic"),
    (lambda h: h[:4] + struct.pack("<I", 12) + h[8:], 4, "header size 12"),
    (lambda h: h[:8] + struct.pack("<I", 40) + h[12:], 8, "record size 40, expected 24"),
    (lambda h: h[:12] + struct.pack("<I", 3) + h[16:], 12, "unsupported version 3"),
    (lambda h: h[:30], 0, "truncated header: 30 of 64 bytes"),
])
def test_corrupt_header_names_file_offset_and_problem(tmp_path, mutate, offset, message):
    path = tmp_path / "BAD.2025-09-23.depth"
    path.write_bytes(mutate(depth_header_bytes()))

    with pytest.raises(CorruptFile) as err:
        read_depth(path)

    assert err.value.path == str(path) and err.value.offset == offset
    assert message in str(err.value) and str(path) in str(err.value)


def test_misaligned_start_offset_is_refused_with_its_offset(tmp_path):
    path = write_depth(tmp_path / "X.2025-09-23.depth", depth_records([T0], [0], [1], [0.0], [0]))

    with pytest.raises(CorruptFile, match="record boundary") as err:
        read_depth(path, start_offset=HEADER_SIZE + 5)

    assert err.value.offset == HEADER_SIZE + 5


def test_legacy_float_days_decode_like_scid(tmp_path):
    rec = depth_records([0], [0], [1], [0.0], [0])
    days = (T0 + SC_EPOCH_US) / 86_400_000_000
    rec["dt"] = np.array([days]).view(np.int64)
    path = write_depth(tmp_path / "X.2025-09-23.depth", rec)

    assert read_depth(path).columns["ts"].tolist() == [T0]


@pytest.mark.parametrize("name, symbol, day", [
    ("NQZ6.CME.2026-09-22.depth", "NQZ6.CME", date(2026, 9, 22)),
    ("ESZ24.2024-12-01.depth", "ESZ24", date(2024, 12, 1)),
    ("/data/MarketDepthData/US100.e.2025-01-02.depth", "US100.e", date(2025, 1, 2)),
])
def test_file_name_date_is_the_last_dot_field(name, symbol, day):
    assert parse_depth_name(name) == (symbol, day)


@pytest.mark.parametrize("name", ["ESZ24.depth", "ES Z24.2024-12-01.depth", "ESZ24.2024-13-01.depth",
                                  "ES*Z4.2024-12-01.depth", ".2024-12-01.depth", "ESZ24.2024-12-01.scid"])
def test_bad_file_names_are_refused(name):
    with pytest.raises(InvalidInstrument):
        parse_depth_name(name)
