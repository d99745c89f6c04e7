"""Sierra Chart ``.scid`` reader: memory-mapped, vectorized, resumable from a byte offset.

Format (DESIGN §6): a 56-byte header ``"SCID", u32 HeaderSize, u32 RecordSize, u16 Version,
u16, u32 UTCStartIndex, char[36]`` and 40-byte little-endian records ``<qffffIIII>``.
``DateTime`` is int64 microseconds since 1899-12-30 UTC, or in very old files an f64 of
days since then (its top byte is 0x3E–0x41). A record is a *trade* when ``Open`` holds one
of the three markers (0.0, first sub-trade, last sub-trade) and it carries volume; a marker
with no volume is a bid/ask update (*quote*); anything else is a *bar*. For trades and
quotes ``High`` is the ask, ``Low`` the bid and ``Close`` the trade price.

Sierra Chart appends while the file is open, so only whole records are read and a
trailing partial record is left for the next read. Reads start at any record boundary
(a checkpoint); :func:`resume_offset` tells whether a checkpoint still applies or the file
shrank or was replaced and must be read from the start.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from marketdata_assets.sources.sierra.records import MappedRange, RecordFile, RecordLayout, parse_header

HEADER_DTYPE = np.dtype([
    ("magic", "S4"), ("header_size", "<u4"), ("record_size", "<u4"), ("version", "<u2"),
    ("unused", "<u2"), ("utc_start_index", "<u4"), ("reserved", "S36"),
])
RECORD_DTYPE = np.dtype([
    ("dt", "<i8"), ("open", "<f4"), ("high", "<f4"), ("low", "<f4"), ("close", "<f4"),
    ("num_trades", "<u4"), ("total_volume", "<u4"), ("bid_volume", "<u4"), ("ask_volume", "<u4"),
])
HEADER_SIZE = HEADER_DTYPE.itemsize   # 56
RECORD_SIZE = RECORD_DTYPE.itemsize   # 40
SC_EPOCH_US = 2_209_161_600_000_000   # 1899-12-30 → 1970-01-01 in µs
DAY_US = 86_400_000_000
# first Sierra DateTime that is no longer a valid instant: 10000-01-01 (2,958,466 days after 1899-12-30)
SC_MAX_US = 2_958_466 * DAY_US
TS_INVALID = np.iinfo(np.int64).min   # a DateTime that decodes to no instant; NaT as datetime64
SINGLE_TRADE = np.float32(0.0)
FIRST_SUB_TRADE = np.float32(-1.99900095e37)
LAST_SUB_TRADE = np.float32(-1.99900197e37)
KIND_TRADE, KIND_QUOTE, KIND_BAR = 0, 1, 2
KIND_NAMES = np.array(["trade", "quote", "bar"])
_FINGERPRINT_BYTES = HEADER_SIZE + RECORD_SIZE
LAYOUT = RecordLayout(b"SCID", HEADER_DTYPE, RECORD_DTYPE, versions=(1,))


@dataclass(frozen=True)
class ScidHeader:
    header_size: int
    record_size: int
    version: int
    utc_start_index: int


@dataclass(frozen=True)
class ScidChunk:
    """Whole records read from ``start_offset`` up to ``end_offset`` (the next read's start)."""

    path: str
    header: ScidHeader
    start_offset: int
    end_offset: int
    file_size: int
    trailing_bytes: int
    fingerprint: str
    records: pd.DataFrame

    @property
    def rows(self) -> int:
        return len(self.records)


def read_header(path: str | os.PathLike, raw: bytes | None = None) -> ScidHeader:
    """Parse and validate the header (read from the file if ``raw`` is None); the error
    names the file, the byte offset and what is wrong."""
    if raw is None:
        with RecordFile(path, LAYOUT) as f:
            return _header(f.header)
    return _header(parse_header(path, raw, LAYOUT))


def _header(h: np.void) -> ScidHeader:
    return ScidHeader(int(h["header_size"]), int(h["record_size"]), int(h["version"]),
                      int(h["utc_start_index"]))


def fingerprint_bytes(head: bytes) -> str:
    """Identity of a file: a hash of its header and first record, which never change while
    Sierra Chart appends but do when the file is replaced."""
    return hashlib.sha1(head[:_FINGERPRINT_BYTES]).hexdigest()


def resume_offset(header_size: int, file_size: int, fingerprint: str,
                  checkpoint_offset: int | None, checkpoint_fingerprint: str | None) -> tuple[int, bool]:
    """Where to start reading, and whether everything read before must be discarded.

    A checkpoint applies when the file still has the same first bytes and is at least as
    long as the checkpoint; otherwise the file shrank or was replaced: read from the start.
    """
    if checkpoint_offset is None:
        return header_size, True
    if checkpoint_fingerprint != fingerprint or file_size < checkpoint_offset or checkpoint_offset < header_size:
        return header_size, True
    return checkpoint_offset, False


def decode_datetimes(dt: np.ndarray) -> np.ndarray:
    """Sierra ``DateTime`` (int64 µs since 1899-12-30, or legacy f64 days) → Unix µs.

    A value that is no instant Sierra Chart could have written (before its epoch, from year
    10000 on, a NaN or infinite legacy day count: INT64_MIN, INT64_MAX, garbage bytes,
    1e300 days) decodes to :data:`TS_INVALID` (NaT as ``datetime64``), never to a wrapped
    or overflowed time; :func:`valid_timestamps` tells them apart."""
    if not len(dt) or (dt.min() >= 0 and dt.max() < SC_MAX_US):
        return dt - SC_EPOCH_US   # every value a valid int64 DateTime (a legacy f64 is above SC_MAX_US)
    top = (dt >> 56) & 0xFF
    legacy = (top >= 0x3E) & (top <= 0x41)
    ok = (dt >= 0) & (dt < SC_MAX_US)
    out = np.where(ok, dt - SC_EPOCH_US, TS_INVALID)
    if legacy.any():
        days = dt[legacy].view(np.float64)
        good = np.isfinite(days) & (days >= 0) & (days < SC_MAX_US / DAY_US)
        us = np.full(len(days), TS_INVALID, dtype=np.int64)
        us[good] = np.round(days[good] * float(DAY_US)).astype(np.int64) - SC_EPOCH_US
        out[legacy] = us
    return out


def valid_timestamps(ts_us: np.ndarray) -> np.ndarray:
    """True where a decoded timestamp is an instant (not :data:`TS_INVALID`)."""
    return ts_us != TS_INVALID


def classify(open_: np.ndarray, high: np.ndarray, low: np.ndarray, volume: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Record kind (trade/quote/bar) and sub-trade marker (0 none, 1 first, 2 last)."""
    first = open_ == FIRST_SUB_TRADE
    last = open_ == LAST_SUB_TRADE
    marker = (open_ == SINGLE_TRADE) | first | last
    kind = np.full(len(open_), KIND_BAR, dtype=np.int8)
    kind[marker & (volume > 0)] = KIND_TRADE
    kind[marker & (volume == 0) & ((high != 0) | (low != 0))] = KIND_QUOTE
    sub = first.astype(np.int8) + 2 * last.astype(np.int8)
    return kind, sub


_FIELDS = (("open", np.float32), ("high", np.float32), ("low", np.float32), ("close", np.float32),
           ("num_trades", np.uint32), ("total_volume", np.uint32), ("bid_volume", np.uint32),
           ("ask_volume", np.uint32))
_BLOCK = 8192  # records transposed at a time: their 320 KiB stay in the CPU cache for the 8 columns


def _fields(rec: np.ndarray) -> dict[str, np.ndarray]:
    """The eight 4-byte fields after ``dt``, as contiguous columns, in one pass over the
    records (8 field-by-field copies would walk every cache line of the records 8 times)."""
    n = len(rec)
    words = np.ascontiguousarray(rec).view(np.uint32).reshape(n, RECORD_SIZE // 4)
    out = np.empty((len(_FIELDS), n), dtype=np.uint32)
    for lo in range(0, n, _BLOCK):
        out[:, lo:lo + _BLOCK] = words[lo:lo + _BLOCK, 2:].T
    return {name: out[i].view(kind) for i, (name, kind) in enumerate(_FIELDS)}


def decode_records(rec: np.ndarray, first_offset: int) -> pd.DataFrame:
    """Structured records → a typed frame: UTC timestamps, the record kind and byte offset,
    and prices (float32) and counts (uint32) exactly as stored. Widening them here would
    double the memory traffic of a decode; every consumer converts what it uses."""
    n = len(rec)
    ts = decode_datetimes(rec["dt"].astype(np.int64, copy=True))
    columns = {"ts": pd.DatetimeIndex(ts.view("datetime64[us]")).tz_localize("UTC")}
    columns.update(_fields(rec))  # detached from the memory map
    # on the contiguous copies: the strided record fields cost 2.5x as much to compare
    kind, sub = classify(columns["open"], columns["high"], columns["low"], columns["total_volume"])
    columns.update({"kind": kind, "sub_trade": sub,
                    "byte_offset": first_offset + np.arange(n, dtype=np.int64) * RECORD_SIZE})
    return pd.DataFrame(columns, copy=False)


def probe_scid(path: str | os.PathLike) -> tuple[ScidHeader, int, str]:
    """(validated header, file size, fingerprint) from the first bytes only: what a reader
    needs to decide where to resume, without scanning the records."""
    with RecordFile(path, LAYOUT) as f:
        return _header(f.header), f.size, fingerprint_bytes(f.head)


def read_scid(path: str | os.PathLike, start_offset: int | None = None) -> ScidChunk:
    """Read every whole record from ``start_offset`` (default: the first record) to the end.

    The file is memory-mapped; nothing is decoded record by record in Python. A trailing
    partial record is not read: ``end_offset`` points at it, ready for the next call.
    """
    with RecordFile(path, LAYOUT) as f:
        start = f.start(start_offset)
        n = f.whole_records(start)
        if n == 0:
            frame = decode_records(np.empty(0, dtype=RECORD_DTYPE), start)
        else:
            with f.map(start, n) as mapped:
                rec = mapped.records(RECORD_DTYPE, start, n)
                try:
                    frame = decode_records(rec, start)
                finally:
                    del rec  # release the buffer before the map closes
    return _chunk(f, start, n, frame)


def _chunk(f: RecordFile, start: int, n: int, frame: pd.DataFrame) -> ScidChunk:
    return ScidChunk(path=f.path, header=_header(f.header), start_offset=start, end_offset=start + n * RECORD_SIZE,
                     file_size=f.size, trailing_bytes=f.trailing_bytes, fingerprint=fingerprint_bytes(f.head),
                     records=frame)


def instrument_from_path(path: str | os.PathLike) -> str:
    """``…/ESZ24-CME.scid`` → ``ESZ24-CME`` (validated by the caller)."""
    return Path(path).name[: -len(".scid")] if str(path).endswith(".scid") else Path(path).stem


def read_scid_window(path: str | os.PathLike, lo_us: int, hi_us: int, start_offset: int | None = None) -> ScidChunk:
    """Like :func:`read_scid`, keeping only records with ``lo_us <= ts < hi_us``."""
    return read_scid_where(path, lambda ts: np.flatnonzero((ts >= lo_us) & (ts < hi_us)), start_offset)


def read_scid_where(path: str | os.PathLike, select: Callable[[np.ndarray], np.ndarray],
                    start_offset: int | None = None, end_offset: int | None = None) -> ScidChunk:
    """Like :func:`read_scid`, keeping the records at the positions ``select`` picks from
    the Unix µs timestamps of every whole record from ``start_offset`` (up to ``end_offset``).

    Only the 8-byte timestamps of the scanned range are decoded to select; the other
    fields are decoded for the selected records only.
    """
    with RecordFile(path, LAYOUT) as f:
        start = f.start(start_offset)
        n = f.whole_records(start, end_offset)
        if n == 0:
            frame = decode_records(np.empty(0, dtype=RECORD_DTYPE), start)
        else:
            with f.map(start, n) as mapped:
                rec = mapped.records(RECORD_DTYPE, start, n)
                try:
                    idx = np.asarray(select(_timestamps(mapped, start, n)), dtype=np.int64)
                    frame = decode_records(rec[idx], 0)
                    frame["byte_offset"] = start + idx * RECORD_SIZE
                finally:
                    del rec
                mapped.release(start, n * RECORD_SIZE)
    return _chunk(f, start, n, frame)


SCAN_RECORDS = 1 << 20  # records per timestamp slice: 40 MiB of file mapped in at a time


def _timestamps(mapped: MappedRange, start: int, n: int) -> np.ndarray:
    """Unix µs of the ``n`` records from byte ``start``, a slice at a time; each slice's pages
    leave the process once read (the page cache keeps them), so scanning a 1 GiB file never
    holds 1 GiB of it in the process."""
    out = np.empty(n, dtype=np.int64)
    for lo in range(0, n, SCAN_RECORDS):
        k = min(SCAN_RECORDS, n - lo)
        offset = start + lo * RECORD_SIZE
        rec = mapped.records(RECORD_DTYPE, offset, k)
        try:
            out[lo:lo + k] = decode_datetimes(rec["dt"].astype(np.int64))
        finally:
            del rec
        mapped.release(offset, k * RECORD_SIZE)
    return out


def scan_timestamps(path: str | os.PathLike, start_offset: int | None = None,
                    end_offset: int | None = None) -> tuple[np.ndarray, int]:
    """Unix µs of every whole record from ``start_offset`` (up to ``end_offset``), and the
    offset after them."""
    with RecordFile(path, LAYOUT) as f:
        start = f.header_size if start_offset is None else start_offset  # past the end: no record
        n = f.whole_records(start, end_offset)
        if n == 0:
            return np.empty(0, np.int64), start
        with f.map(start, n) as mapped:
            return _timestamps(mapped, start, n), start + n * RECORD_SIZE
