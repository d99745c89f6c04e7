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


def write_scid(path: str | Path, records: np.ndarray, append: bool = False) -> Path:
    """Write (or append) structured records; a new file gets a header."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab" if append else "wb") as fh:
        if not append or fh.tell() == 0:
            fh.write(header_bytes())
        fh.write(records.astype(RECORD_DTYPE, copy=False).tobytes())
    return path
