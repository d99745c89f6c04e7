"""The shared record reader of .scid and .depth files (and of the sidecar's tail)."""

from __future__ import annotations

import mmap

import numpy as np
import pytest

from marketdata_assets.errors import CorruptFile
from marketdata_assets.sidecar.tail import ScidTail
from marketdata_assets.sources.sierra import depth, scid
from marketdata_assets.sources.sierra.depth_writer import depth_header_bytes, depth_records, write_depth
from marketdata_assets.sources.sierra.records import RecordFile
from marketdata_assets.sources.sierra.scid_writer import header_bytes, write_scid

T0 = 1_709_850_000_000_000


def scid_records(n: int) -> np.ndarray:
    rec = np.zeros(n, dtype=scid.RECORD_DTYPE)
    rec["dt"] = T0 + scid.SC_EPOCH_US + np.arange(n) * 1_000
    rec["close"] = np.arange(n, dtype=np.float32)
    rec["num_trades"], rec["total_volume"] = 1, 1 + np.arange(n) % 7
    return rec


def test_a_range_past_the_first_allocation_unit_maps_the_records_at_their_offsets(tmp_path):
    rec = scid_records(5000)  # 200 KB: well past mmap's allocation granularity
    path = write_scid(tmp_path / "ESH24.scid", rec)
    start = scid.HEADER_SIZE + 4321 * scid.RECORD_SIZE
    assert start > mmap.ALLOCATIONGRANULARITY

    with RecordFile(path, scid.LAYOUT) as f, f.map(start, 100) as mapped:
        got = mapped.records(scid.RECORD_DTYPE, start, 100).copy()

    assert got.tobytes() == rec[4321:4421].tobytes()


def test_whole_records_leave_a_partial_record_and_boundaries_name_the_offset(tmp_path):
    path = tmp_path / "ESH24.scid"
    path.write_bytes(header_bytes() + scid_records(3).tobytes() + b"\x01" * 17)

    with RecordFile(path, scid.LAYOUT) as f:
        assert f.whole_records(f.start()) == 3 and f.trailing_bytes == 17
        assert f.pread(f.start(), 10).tobytes() == scid_records(3).tobytes()  # never the partial record
        with pytest.raises(CorruptFile, match="record boundary") as misaligned:
            f.start(scid.HEADER_SIZE + 3)
        end = scid.HEADER_SIZE + 4 * scid.RECORD_SIZE
        with pytest.raises(CorruptFile, match="past the end") as past:
            f.start(end)

    assert (misaligned.value.path, misaligned.value.offset) == (str(path), scid.HEADER_SIZE + 3)
    assert past.value.offset == end


def test_missing_file_is_a_corrupt_file_naming_it(tmp_path):
    path = tmp_path / "NOPE.2025-09-23.depth"

    with pytest.raises(CorruptFile, match="cannot open") as err:
        RecordFile(path, depth.LAYOUT)

    assert err.value.path == str(path) and err.value.offset is None


def test_a_bad_header_closes_the_file_and_names_the_field_offset(tmp_path):
    path = tmp_path / "BAD.2025-09-23.depth"
    header = bytearray(depth_header_bytes())
    header[8:12] = (40).to_bytes(4, "little")  # record size
    path.write_bytes(bytes(header))

    with pytest.raises(CorruptFile, match="record size 40, expected 24") as err:
        RecordFile(path, depth.LAYOUT)

    assert err.value.offset == 8


def test_an_error_while_a_view_is_alive_is_the_error_raised(tmp_path):
    """A view held by the traceback must not turn the real error into 'cannot close exported pointers'."""
    path = write_scid(tmp_path / "ESH24.scid", scid_records(10))

    def decode(rec):
        raise ValueError(f"bad record {rec[0]['close']}")

    with pytest.raises(ValueError, match="bad record 0.0"):
        with RecordFile(path, scid.LAYOUT) as f, f.map(f.start(), 10) as mapped:
            decode(mapped.records(scid.RECORD_DTYPE, f.start(), 10))


def test_a_view_that_outlives_its_map_is_an_error(tmp_path):
    path = write_scid(tmp_path / "ESH24.scid", scid_records(10))

    with RecordFile(path, scid.LAYOUT) as f:
        with pytest.raises(BufferError):
            with f.map(f.start(), 10) as mapped:
                kept = mapped.records(scid.RECORD_DTYPE, f.start(), 10)
        del kept


def test_scid_readers_depth_reader_and_tail_agree_on_the_same_bytes(tmp_path):
    rec = scid_records(50)
    path = tmp_path / "ESH24.scid"
    path.write_bytes(header_bytes() + rec.tobytes() + b"\x00" * 11)
    tail = ScidTail(path)
    tail.open()
    tailed, first = tail.read(1000)
    tail.close()

    chunk = scid.read_scid(path)
    ts, end = scid.scan_timestamps(path)

    assert tailed.tobytes() == rec.tobytes() and first == scid.HEADER_SIZE
    assert chunk.rows == 50 and chunk.end_offset == end == scid.HEADER_SIZE + 50 * scid.RECORD_SIZE
    assert (ts == T0 + np.arange(50) * 1_000).all()
    d = write_depth(tmp_path / "X.2025-09-23.depth", depth_records([T0, T0, T0 + 1], [1, 2, 3], [0, 1, 0],
                                                                    [0.0, 1.0, 2.0], [0, 1, 2]))
    assert depth.read_depth(d).rows == 2 and depth.probe_depth(d)[1] == d.stat().st_size
