"""Writing ``.depth`` files: for the sample data, the tests and the benchmarks.

``depth_records`` builds structured records from plain lists or arrays; ``write_depth``
writes (or appends) them after a header, exactly as Sierra Chart lays them out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from marketdata_assets.sources.sierra.depth import HEADER_DTYPE, HEADER_SIZE, MAGIC, RECORD_DTYPE, RECORD_SIZE
from marketdata_assets.sources.sierra.scid import SC_EPOCH_US
from marketdata_assets.sources.sierra.scid_writer import write_records


def depth_header_bytes(version: int = 1) -> bytes:
    h = np.zeros(1, dtype=HEADER_DTYPE)
    h["magic"], h["header_size"], h["record_size"], h["version"] = MAGIC, HEADER_SIZE, RECORD_SIZE, version
    return h.tobytes()


def depth_records(ts_us, command, flags, price, quantity, num_orders=None) -> np.ndarray:
    """Structured records from Unix µs timestamps and the fields (broadcast like numpy)."""
    ts_us = np.asarray(ts_us, dtype=np.int64)
    rec = np.zeros(len(ts_us), dtype=RECORD_DTYPE)
    rec["dt"] = ts_us + SC_EPOCH_US
    rec["command"], rec["flags"], rec["price"], rec["quantity"] = command, flags, price, quantity
    rec["num_orders"] = 1 if num_orders is None else num_orders
    return rec


def write_depth(path: str | Path, records: np.ndarray, append: bool = False) -> Path:
    """Write (or append) records; a new file gets a header."""
    return write_records(path, depth_header_bytes(), records, RECORD_DTYPE, append)
