"""The sidecar's tick feed of a ProjectX instrument: the records the hub journal decodes to
(:mod:`marketdata_assets.sources.projectx.decode`), as a ``.scid`` tick file
(``<journal dir>/projectx/ESZ24.scid``) that the sidecar's ordinary ``.scid`` loop tails into
Redis: same keys, live bars and indicators, exactly-once resume by byte offset.

It is derived data, not the journal: the hub journal (``ESZ24.jsonl``) is written first, and
this file is brought back in line with it when the input starts (records the journal
decodes to beyond the file's end are appended; a file longer than the journal's records is
rewritten). A record torn by a crash at the end is cut off when the file is opened, so
appends stay aligned. Prices are float32 as in every ``.scid`` file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.sources.projectx.journal import write_all
from marketdata_assets.sources.sierra.scid import HEADER_SIZE, RECORD_DTYPE, RECORD_SIZE
from marketdata_assets.sources.sierra.scid_writer import header_bytes


def feed_path(journal_dir: Path, instrument: str) -> Path:
    return Path(journal_dir) / f"{validate_instrument(instrument)}.scid"


class TickFeed:
    """Append-only ``.scid`` tick file of one instrument (one writer per file)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records = 0
        self._repair()
        self._fd = self._open()

    def _open(self) -> int:
        # unbuffered, O_APPEND: one write(2) per batch, in the OS (for the tail) when write() returns
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))

    def _repair(self) -> None:
        with open(self.path, "ab") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size < HEADER_SIZE:
                fh.truncate(0)
                fh.write(header_bytes())
                return
            whole = HEADER_SIZE + (size - HEADER_SIZE) // RECORD_SIZE * RECORD_SIZE
            if whole != size:  # a record torn by a crash: drop it, it was never readable
                fh.truncate(whole)
        self.records = (whole - HEADER_SIZE) // RECORD_SIZE

    def rewrite(self) -> None:
        """Start the file over under a new inode (the sidecar's tail sees a replaced file and
        rebuilds the instrument's Redis keys from it); the old file is kept as ``.scid.replaced``
        (a journal of the earlier, ``.scid``-only layout is not lost)."""
        os.close(self._fd)
        os.replace(self.path, self.path.with_suffix(".scid.replaced"))
        tmp = self.path.with_suffix(".scid.tmp")
        tmp.write_bytes(header_bytes())
        os.replace(tmp, self.path)
        self._fd = self._open()
        self.records = 0

    def write(self, records: list[tuple]) -> int:
        """Append decoded records (``RECORD_DTYPE`` tuples) and flush them to the OS."""
        if records:
            write_all(self._fd, np.array(records, dtype=RECORD_DTYPE).tobytes())  # survives kill -9 of this process
            self.records += len(records)
        return len(records)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
