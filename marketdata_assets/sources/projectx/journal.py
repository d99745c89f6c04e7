"""The hub journal: every market-hub message of one instrument, as received, before anything
is done with it (DESIGN §5). ``<journal dir>/projectx/<instrument>.jsonl``, one JSON object
per line:

- a hub message: the SignalR invocation as the hub sent it (``type`` 1, ``target``
  ``GatewayTrade`` / ``GatewayQuote`` / ``GatewayDepth``, ``arguments`` ``[contractId, data]``)
  plus ``rt``, the receive time (Unix µs, the sidecar's wall clock);
- the sidecar's own entries, ``{"rt", "sidecar": "start" | "connected" | "backfill", …}``:
  a process began journaling, a hub connection opened (``connection`` n), and the
  ``retrieveBars`` answer filling a reconnect gap (``bars`` ``[[start µs, o, h, l, c, v], …]``,
  the window, and the error if the request failed).

A line is appended with one ``write(2)`` (in the OS: it survives kill -9 of the sidecar)
before the message is decoded. A line a crash tore (the file does not end with a newline) is never
read: readers stop at the last newline and report the bytes after it; the writer cuts
them off when it opens the file again (logged, and counted in ``torn_bytes``), so appends
stay on a line boundary. What the lines mean is :mod:`.decode`'s business alone.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from marketdata_assets.errors import CorruptFile
from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.sources.sierra.scid import fingerprint_bytes

log = logging.getLogger(__name__)
SUFFIX = ".jsonl"
_LINE = orjson.OPT_APPEND_NEWLINE


def journal_path(journal_dir: str | os.PathLike, instrument: str) -> Path:
    return Path(journal_dir) / f"{validate_instrument(instrument)}{SUFFIX}"


def _tail_cut(fh, size: int) -> int:
    """Offset just after the last newline of the file open in ``fh`` (0 when there is none)."""
    pos, step = size, 1 << 16
    while pos > 0:
        lo = max(0, pos - step)
        fh.seek(lo)
        chunk = fh.read(pos - lo)
        k = chunk.rfind(b"\n")
        if k >= 0:
            return lo + k + 1
        pos = lo
    return 0


class HubJournal:
    """Append-only writer of one instrument's journal (one writer per file)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as fh:
            size = fh.seek(0, os.SEEK_END)
            whole = _tail_cut(fh, size) if size else 0
            self.torn_bytes = size - whole
            if self.torn_bytes:
                fh.truncate(whole)
                log.warning("%s: cut off %d byte(s) of a line torn by a crash (it was never processed)",
                            self.path.name, self.torn_bytes)
        # unbuffered, O_APPEND: one write(2) per line, in the OS when append() returns
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
        self.lines = 0   # lines appended by this writer

    def append(self, entry: dict) -> None:
        """Write ``entry`` as one line (before it is processed)."""
        write_all(self._fd, orjson.dumps(entry, option=_LINE))
        self.lines += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a regular file rarely takes less)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


@dataclass(frozen=True)
class JournalRead:
    entries: list[dict]
    end_offset: int        # after the last whole line
    file_size: int
    torn_bytes: int        # bytes after the last newline: a line being written, or torn by a crash
    fingerprint: str | None   # identity of the file: its first line (None while it has none)


def iter_entries(path: str | os.PathLike) -> Iterator[tuple[dict, int]]:
    """(entry, offset just after its line) of every whole line, in order."""
    path = str(path)
    with open(path, "rb") as fh:
        offset = 0
        for line in fh:
            if not line.endswith(b"\n"):
                return
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise CorruptFile(path, offset, f"journal line is not JSON: {exc}") from exc
            offset += len(line)
            yield entry, offset


def read_journal(path: str | os.PathLike) -> JournalRead:
    """Every whole line of the journal, decoded from JSON (a torn or half-written last line
    is left out and reported)."""
    path = str(path)
    entries, end = [], 0
    try:
        with open(path, "rb") as fh:
            first = fh.readline()
        for entry, after in iter_entries(path):
            entries.append(entry)
            end = after
        size = os.stat(path).st_size
    except OSError as exc:
        raise CorruptFile(path, None, f"cannot read: {exc.strerror}") from exc
    fingerprint = fingerprint_bytes(first) if first.endswith(b"\n") else None
    return JournalRead(entries, end, size, max(0, size - end), fingerprint)
