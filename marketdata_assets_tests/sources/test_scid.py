"""The .scid reader: header validation, record kinds, offsets, partial records, legacy dates."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from marketdata_assets.errors import CorruptFile
from marketdata_assets.sources.sierra.scid import (
    FIRST_SUB_TRADE,
    HEADER_SIZE,
    KIND_BAR,
    KIND_QUOTE,
    KIND_TRADE,
    LAST_SUB_TRADE,
    RECORD_DTYPE,
    RECORD_SIZE,
    SC_EPOCH_US,
    TS_INVALID,
    decode_datetimes,
    read_scid,
    read_scid_window,
    resume_offset,
    valid_timestamps,
)
from marketdata_assets.testkit.sierra_sample import header_bytes, unique_microseconds, write_scid

T0 = 1_709_850_000_000_000  # 2024-03-07 22:20 UTC in Unix µs


def records(n: int, start_us: int = T0, step_us: int = 1_000) -> np.ndarray:
    rec = np.zeros(n, dtype=RECORD_DTYPE)
    rec["dt"] = start_us + SC_EPOCH_US + np.arange(n) * step_us
    rec["high"], rec["low"], rec["close"] = 100.25, 100.0, 100.25
    rec["num_trades"], rec["total_volume"], rec["ask_volume"] = 1, 3, 3
    return rec


def test_header_and_records_decode_to_utc_frame(tmp_path):
    path = write_scid(tmp_path / "ESH24.scid", records(3))

    chunk = read_scid(path)

    assert chunk.rows == 3
    assert chunk.end_offset == HEADER_SIZE + 3 * RECORD_SIZE
    assert str(chunk.records["ts"].dt.tz) == "UTC"
    assert chunk.records["ts"].iloc[0].value // 1000 == T0
    assert chunk.records["byte_offset"].tolist() == [56, 96, 136]
    assert chunk.records["kind"].tolist() == [KIND_TRADE] * 3


@pytest.mark.parametrize("mutate, message", [
    (lambda h: b"SCIX" + h[4:], "bad magic"),
    (lambda h: h[:8] + struct.pack("<I", 32) + h[12:], "record size 32, expected 40"),
    (lambda h: h[:4] + struct.pack("<I", 12) + h[8:], "header size 12"),
    (lambda h: h[:20], "truncated header: 20 of 56 bytes"),
    (lambda h: h[:12] + struct.pack("<H", 9) + h[14:], "unsupported version 9"),
])
def test_corrupt_header_names_file_and_problem(tmp_path, mutate, message):
    path = tmp_path / "BAD.scid"
    header = mutate(header_bytes())
    path.write_bytes(header + (records(2).tobytes() if len(header) == HEADER_SIZE else b""))

    with pytest.raises(CorruptFile) as err:
        read_scid(path)

    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_partial_trailing_record_is_left_for_next_read(tmp_path):
    rec = records(4)
    path = tmp_path / "ESH24.scid"
    path.write_bytes(header_bytes() + rec[:3].tobytes() + rec[3:].tobytes()[:17])

    first = read_scid(path)
    with open(path, "ab") as fh:
        fh.write(rec[3:].tobytes()[17:])
    second = read_scid(path, start_offset=first.end_offset)

    assert first.rows == 3 and first.trailing_bytes == 17
    assert second.rows == 1 and second.trailing_bytes == 0
    assert second.records["byte_offset"].iloc[0] == HEADER_SIZE + 3 * RECORD_SIZE
    assert second.records["ts"].iloc[0].value // 1000 == T0 + 3_000


def test_offset_off_a_record_boundary_is_refused(tmp_path):
    path = write_scid(tmp_path / "ESH24.scid", records(3))

    with pytest.raises(CorruptFile, match="record boundary"):
        read_scid(path, start_offset=HEADER_SIZE + 7)


def test_trade_markers_quotes_and_bars_are_told_apart(tmp_path):
    rec = records(5)
    rec["open"][0] = 0.0                       # single trade with bid/ask
    rec["open"][1] = FIRST_SUB_TRADE
    rec["open"][2] = LAST_SUB_TRADE
    rec["total_volume"][3] = 0                 # bid/ask update only
    rec["num_trades"][3] = 0
    rec["open"][4] = 100.0                     # a bar: open is a price
    rec["high"][4], rec["low"][4], rec["close"][4] = 101.0, 99.5, 100.5
    path = write_scid(tmp_path / "X.scid", rec)

    frame = read_scid(path).records

    assert frame["kind"].tolist() == [KIND_TRADE, KIND_TRADE, KIND_TRADE, KIND_QUOTE, KIND_BAR]
    assert frame["sub_trade"].tolist() == [0, 1, 2, 0, 0]


def test_legacy_float_day_timestamps_are_converted(tmp_path):
    rec = records(2)
    days = np.array([45359.5, 45359.75])      # 2024-03-08 12:00 and 18:00 UTC
    rec["dt"] = days.view(np.int64)
    path = write_scid(tmp_path / "OLD.scid", rec)

    ts = read_scid(path).records["ts"]

    assert [str(t) for t in ts] == ["2024-03-08 12:00:00+00:00", "2024-03-08 18:00:00+00:00"]


def test_plus_one_microsecond_rule_makes_same_millisecond_trades_unique():
    ms = np.array([10, 10, 10, 11, 12, 12])

    us = unique_microseconds(ms)

    assert us.tolist() == [10_000, 10_001, 10_002, 11_000, 12_000, 12_001]


def test_window_read_keeps_only_records_inside_and_their_offsets(tmp_path):
    path = write_scid(tmp_path / "ESH24.scid", records(10, step_us=1_000_000))

    chunk = read_scid_window(path, T0 + 3_000_000, T0 + 6_000_000)

    assert chunk.rows == 3
    assert chunk.records["byte_offset"].tolist() == [HEADER_SIZE + k * RECORD_SIZE for k in (3, 4, 5)]
    assert chunk.end_offset == HEADER_SIZE + 10 * RECORD_SIZE


def test_checkpoint_applies_only_to_the_same_unshrunk_file(tmp_path):
    path = write_scid(tmp_path / "ESH24.scid", records(5))
    chunk = read_scid(path)
    other = write_scid(tmp_path / "OTHER.scid", records(5, start_us=T0 + 1))
    replaced = read_scid(other)

    same = resume_offset(HEADER_SIZE, chunk.file_size, chunk.fingerprint, chunk.end_offset, chunk.fingerprint)
    shrunk = resume_offset(HEADER_SIZE, chunk.file_size - RECORD_SIZE, chunk.fingerprint, chunk.end_offset,
                           chunk.fingerprint)
    swapped = resume_offset(HEADER_SIZE, replaced.file_size, replaced.fingerprint, chunk.end_offset,
                            chunk.fingerprint)

    assert same == (chunk.end_offset, False)
    assert shrunk == (HEADER_SIZE, True)
    assert swapped == (HEADER_SIZE, True)


def test_empty_file_with_header_only_reads_zero_rows(tmp_path):
    path = tmp_path / "E.scid"
    path.write_bytes(header_bytes())

    chunk = read_scid(path)

    assert chunk.rows == 0 and chunk.end_offset == HEADER_SIZE


def test_missing_file_is_a_corrupt_file_error_naming_it(tmp_path):
    with pytest.raises(CorruptFile, match="NOPE.scid"):
        read_scid(tmp_path / "NOPE.scid")


INT64_MIN, INT64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max


@pytest.mark.parametrize("raw", [
    INT64_MIN, INT64_MAX, -1, -SC_EPOCH_US,
    np.array([1e300]).view(np.int64)[0],            # legacy f64 days, absurdly large
    np.array([-1e300]).view(np.int64)[0],
    np.array([np.nan]).view(np.int64)[0],
    np.array([np.inf]).view(np.int64)[0],
    np.array([3.0e6]).view(np.int64)[0],            # legacy f64: year ~10113
    0x41_F0_00_00_00_00_00_00,                       # garbage with a legacy-looking top byte (4e9 days)
    np.array([-0.5]).view(np.int64)[0],             # legacy f64 before the epoch
])
def test_out_of_range_datetimes_decode_to_a_flagged_invalid_time_never_a_wrapped_one(raw):
    dt = np.array([raw, SC_EPOCH_US + T0], dtype=np.int64)

    ts = decode_datetimes(dt)

    assert ts[0] == TS_INVALID
    assert ts[1] == T0
    assert valid_timestamps(ts).tolist() == [False, True]


def test_datetime_zero_is_the_sierra_epoch_not_an_error():
    ts = decode_datetimes(np.array([0], dtype=np.int64))

    assert ts[0] == -SC_EPOCH_US


def test_invalid_timestamps_read_as_nat_and_stay_out_of_every_window(tmp_path):
    rec = records(3)
    rec["dt"][1] = INT64_MIN
    path = write_scid(tmp_path / "ESH24.scid", rec)

    frame = read_scid(path).records
    window = read_scid_window(path, -(2**62), 2**62)

    assert frame["ts"].isna().tolist() == [False, True, False]
    assert window.records["byte_offset"].tolist() == [HEADER_SIZE, HEADER_SIZE + 2 * RECORD_SIZE]


def test_a_file_name_with_a_trailing_newline_is_no_instrument(tmp_path):
    from marketdata_assets.sources.sierra.discovery import scan_directory

    write_scid(tmp_path / "ESH25\n.scid", records(2))

    (found,) = scan_directory(tmp_path)

    assert found.instrument is None
    assert "ESH25" in found.error
