"""What is in a Sierra Chart data directory: files, their instruments and fingerprints.

Used by the directory sensor (the dates a file holds: ``pipelines.sierra.ticks.file_dates``).
Nothing here raises on a bad file: a file whose name is not a valid instrument is reported
with its error, so one bad file never stops the others from loading.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from marketdata_assets.errors import InvalidInstrument
from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.sources.sierra.scid import instrument_from_path


@dataclass(frozen=True)
class ScidFile:
    path: str
    instrument: str | None
    size: int
    mtime_ns: int
    error: str | None = None


def scan_directory(data_dir: str | os.PathLike) -> list[ScidFile]:
    """Every ``*.scid`` directly in ``data_dir`` with its size and mtime (sorted by name)."""
    out = []
    root = Path(data_dir)
    if not root.is_dir():
        return out
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not entry.name.endswith(".scid") or not entry.is_file(follow_symlinks=False):
            continue
        st = entry.stat(follow_symlinks=False)
        try:
            instrument, error = validate_instrument(instrument_from_path(entry.name)), None
        except InvalidInstrument as exc:
            instrument, error = None, str(exc)
        out.append(ScidFile(str(Path(entry.path).resolve()), instrument, st.st_size, st.st_mtime_ns, error))
    return out
