"""Sierra Chart market-depth (``.depth``) reader: memory-mapped, vectorized, whole batches only.

Format (DESIGN §6): a 64-byte header ``u32 "SCDD" (0x44444353), u32 HeaderSize, u32
RecordSize (24), u32 Version (1), char[48]`` and 24-byte little-endian records
``<qBBHfII>``: ``DateTime`` (int64 µs since 1899-12-30 UTC, decoded like ``.scid``),
``Command`` (0 none, 1 clear book, 2 add bid, 3 add ask, 4 modify bid, 5 modify ask,
6 delete bid, 7 delete ask), ``Flags`` (0x01 end of batch), ``NumOrders``, ``Price``,
``Quantity`` and a reserved u32. Files are named ``<symbol>.<YYYY-MM-DD>.depth``, one UTC
day each; the symbol may itself hold dots, the date is the last dot-separated field.

The book is only consistent at an end-of-batch record, and Sierra Chart appends while the
file is open: a read stops after the last end-of-batch record, leaving a batch not yet
closed (and a trailing partial record) for the next read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from marketdata_assets.errors import InvalidInstrument
from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.sources.sierra.records import RecordFile, RecordLayout, parse_header
from marketdata_assets.sources.sierra.scid import SC_EPOCH_US, decode_datetimes, fingerprint_bytes

MAGIC = 0x44444353  # b"SCDD" read as a little-endian u32
HEADER_DTYPE = np.dtype([("magic", "<u4"), ("header_size", "<u4"), ("record_size", "<u4"),
                         ("version", "<u4"), ("reserved", "S48")])
RECORD_DTYPE = np.dtype([("dt", "<i8"), ("command", "u1"), ("flags", "u1"), ("num_orders", "<u2"),
                         ("price", "<f4"), ("quantity", "<u4"), ("reserved", "<u4")])
HEADER_SIZE = HEADER_DTYPE.itemsize   # 64
RECORD_SIZE = RECORD_DTYPE.itemsize   # 24
END_OF_BATCH = 0x01
(CMD_NONE, CMD_CLEAR, CMD_ADD_BID, CMD_ADD_ASK, CMD_MODIFY_BID, CMD_MODIFY_ASK,
 CMD_DELETE_BID, CMD_DELETE_ASK) = range(8)
COMMAND_NAMES = ("none", "clear_book", "add_bid", "add_ask", "modify_bid", "modify_ask", "delete_bid", "delete_ask")
LAYOUT = RecordLayout(MAGIC.to_bytes(4, "little"), HEADER_DTYPE, RECORD_DTYPE, versions=(1,))
_FIELDS = ("command", "flags", "num_orders", "price", "quantity")


@dataclass(frozen=True)
class DepthHeader:
    header_size: int
    record_size: int
    version: int


@dataclass(frozen=True)
class DepthChunk:
    """The whole batches read from ``start_offset`` to ``end_offset`` (the next read's start).

    Columns are numpy arrays: ``ts`` (Unix µs), ``command``, ``flags``, ``num_orders``,
    ``price`` (float32 as stored) and ``quantity``; :meth:`offsets` gives byte offsets."""

    path: str
    header: DepthHeader
    start_offset: int
    end_offset: int
    file_size: int
    pending_records: int      # records of a batch not closed yet, left for the next read
    trailing_bytes: int       # a partial record at the end of the file
    fingerprint: str
    columns: dict[str, np.ndarray]

    @property
    def rows(self) -> int:
        return len(self.columns["ts"])

    def offsets(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Byte offsets of the records ``idx`` (all records if None)."""
        idx = np.arange(self.rows, dtype=np.int64) if idx is None else np.asarray(idx, np.int64)
        return self.start_offset + idx * RECORD_SIZE


def read_header(path: str | os.PathLike, raw: bytes) -> DepthHeader:
    """Parse and validate the header; the error names the file and the byte offset."""
    return _header(parse_header(path, raw, LAYOUT))


def _header(h: np.void) -> DepthHeader:
    return DepthHeader(int(h["header_size"]), int(h["record_size"]), int(h["version"]))


def probe_depth(path: str | os.PathLike) -> tuple[DepthHeader, int, str]:
    """(validated header, file size, fingerprint) from the first bytes only."""
    with RecordFile(path, LAYOUT) as f:
        return _header(f.header), f.size, fingerprint_bytes(f.head)


def _empty_columns() -> dict[str, np.ndarray]:
    empty = np.empty(0, dtype=RECORD_DTYPE)
    return {"ts": np.empty(0, np.int64), **{k: empty[k].copy() for k in _FIELDS}}


def _columns(u8: np.ndarray) -> tuple[dict[str, np.ndarray], int]:
    """(columns of the whole batches among the records ``u8`` (bytes, one row per record),
    how many records that is)."""
    from marketdata_assets.sources.sierra.depth_kernel import decode  # numba: imported when first used

    dt = u8.view(np.int64)[:, 0]
    ts, cmd, fl, orders, px, qty, legacy, last_end = decode(
        dt, u8[:, 8], u8[:, 9], u8.view(np.uint16)[:, 5], u8.view(np.float32)[:, 3], u8.view(np.uint32)[:, 4],
        SC_EPOCH_US)
    kept = last_end + 1
    if legacy:  # rare: the .scid decoder's rules for legacy (f64 days) times
        ts = decode_datetimes(dt[:kept].astype(np.int64))
    return {"ts": ts[:kept], "command": cmd[:kept], "flags": fl[:kept], "num_orders": orders[:kept],
            "price": px[:kept], "quantity": qty[:kept]}, kept


def read_depth(path: str | os.PathLike, start_offset: int | None = None) -> DepthChunk:
    """Every whole batch from ``start_offset`` (default: the first record) to the last
    end-of-batch record; nothing is decoded record by record in Python."""
    with RecordFile(path, LAYOUT) as f:
        start = f.start(start_offset)
        n = f.whole_records(start)
        if n == 0:
            columns, kept = _empty_columns(), 0
        else:
            # map only the unread part (a resumed read of a big file touches only what was
            # appended), pre-faulted in one call: the kernel reads every byte at once
            with f.map(start, n, populate=True) as mapped:
                u8 = mapped.records(np.uint8, start, n * RECORD_SIZE).reshape(n, RECORD_SIZE)
                try:
                    columns, kept = _columns(u8)
                finally:
                    del u8  # release the buffer before the map closes
    return DepthChunk(path=f.path, header=_header(f.header), start_offset=start,
                      end_offset=start + kept * RECORD_SIZE, file_size=f.size, pending_records=n - kept,
                      trailing_bytes=f.trailing_bytes, fingerprint=fingerprint_bytes(f.head), columns=columns)


def parse_depth_name(name: str) -> tuple[str, date]:
    """``NQZ6.CME.2026-09-22.depth`` → (``NQZ6.CME``, 2026-09-22): the date is the last
    dot-separated field, the symbol everything before it (validated, full match)."""
    base = Path(name).name
    if not base.endswith(".depth"):
        raise InvalidInstrument(base, "not a .depth file name")
    symbol, _, day = base[: -len(".depth")].rpartition(".")
    try:
        file_date = date.fromisoformat(day) if len(day) == 10 else None
    except ValueError:
        file_date = None
    if not symbol or file_date is None:
        raise InvalidInstrument(base, "expected <symbol>.<YYYY-MM-DD>.depth")
    return validate_instrument(symbol), file_date


def depth_path(directory: str | os.PathLike, instrument: str, day: date) -> Path:
    return Path(directory) / f"{validate_instrument(instrument)}.{day.isoformat()}.depth"


def utc_day_bounds(day: date) -> tuple[int, int]:
    """Unix µs [start, end) of the UTC day a ``.depth`` file holds."""
    lo = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000
    return lo, lo + 86_400_000_000
