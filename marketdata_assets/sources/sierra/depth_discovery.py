"""What is in a market-depth directory: ``.depth`` files, their instruments, days and sizes.

Used by the directory sensor. Nothing here raises on a bad file name: it is reported with its
error, so one bad file never stops the others from loading.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from marketdata_assets.errors import CorruptFile, InvalidInstrument
from marketdata_assets.sources.sierra.depth import LAYOUT, RECORD_DTYPE, RECORD_SIZE, parse_depth_name
from marketdata_assets.sources.sierra.records import RecordFile
from marketdata_assets.sources.sierra.scid import decode_datetimes


@dataclass(frozen=True)
class DepthFile:
    path: str
    instrument: str | None
    day: date | None
    size: int
    mtime_ns: int
    error: str | None = None


def scan_depth_directory(depth_dir: str | os.PathLike) -> list[DepthFile]:
    """Every ``*.depth`` directly in ``depth_dir`` with its size and mtime (sorted by name)."""
    root = Path(depth_dir)
    if not root.is_dir():
        return []
    out = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not entry.name.endswith(".depth") or not entry.is_file(follow_symlinks=False):
            continue
        st = entry.stat(follow_symlinks=False)
        try:
            (instrument, day), error = parse_depth_name(entry.name), None
        except InvalidInstrument as exc:
            instrument, day, error = None, None, str(exc)
        out.append(DepthFile(str(Path(entry.path).resolve()), instrument, day, st.st_size, st.st_mtime_ns, error))
    return out


def scan_depth_times(path: str, from_size: int | None = None) -> tuple[int, np.ndarray, np.ndarray]:
    """(byte offset of the first record read, Unix µs, flags) of the whole records after byte
    ``from_size`` (all records if None); only these two fields are decoded."""
    try:
        with RecordFile(path, LAYOUT) as f:
            hs = f.header_size
            start = hs if from_size is None else max(hs, from_size - (from_size - hs) % RECORD_SIZE)
            n = f.whole_records(start)
            if n == 0:
                return start, np.empty(0, np.int64), np.empty(0, np.uint8)
            with f.map(start, n) as mapped:
                rec = mapped.records(RECORD_DTYPE, start, n)
                try:
                    ts, flags = decode_datetimes(rec["dt"].astype(np.int64)), rec["flags"].copy()
                finally:
                    del rec
    except OSError as exc:
        raise CorruptFile(path, None, f"cannot read: {exc.strerror}") from exc
    return start, ts, flags
