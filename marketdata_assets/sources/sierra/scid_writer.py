"""Writing ``.scid`` files: the sidecar's tick journal, the sample data, the tests and the
benchmarks.

``header_bytes`` is the 56-byte header Sierra Chart writes (``SCID``, header size 56, record
size 40, version 1); ``write_scid`` writes (or appends) structured records after it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from marketdata_assets.sources.sierra.scid import HEADER_DTYPE, HEADER_SIZE, RECORD_DTYPE, RECORD_SIZE


def header_bytes() -> bytes:
    h = np.zeros(1, dtype=HEADER_DTYPE)
    h["magic"], h["header_size"], h["record_size"], h["version"] = b"SCID", HEADER_SIZE, RECORD_SIZE, 1
    return h.tobytes()


def write_records(path: str | Path, header: bytes, records: np.ndarray, dtype: np.dtype,
                  append: bool = False) -> Path:
    """Write (or append) ``records`` as ``dtype`` to a Sierra Chart file; a new (or empty) file
    gets ``header`` first. Shared by the ``.scid`` and ``.depth`` writers."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab" if append else "wb") as fh:
        if not append or fh.tell() == 0:
            fh.write(header)
        fh.write(np.asarray(records).astype(dtype, copy=False).tobytes())
    return path


def write_scid(path: str | Path, records: np.ndarray, append: bool = False) -> Path:
    """Write (or append) structured records; a new file gets a header."""
    return write_records(path, header_bytes(), records, RECORD_DTYPE, append)
