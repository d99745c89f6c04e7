"""Tailing ``.scid`` files by byte offset: whole records only, woken by inotify or a poll.

:class:`ScidTail` keeps the file open (a :class:`~marketdata_assets.sources.sierra.records.RecordFile`,
the batch readers' open, header check and record boundaries) and reads the records appended
since its offset with ``pread`` (never a trailing partial record: Sierra Chart may be half-way
through writing it). It notices a file that shrank or was replaced (other inode, other first bytes) and
says so instead of reading garbage. :class:`Watcher` wakes the reader: inotify on the data
directory through a few ``ctypes`` calls where Linux offers it, otherwise (and as a safety
net in any case) every ``poll_ms``.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
from pathlib import Path

import numpy as np

from marketdata_assets.errors import InvalidInstrument
from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.sources.sierra.records import RecordFile
from marketdata_assets.sources.sierra.scid import (
    HEADER_SIZE,
    LAYOUT,
    RECORD_DTYPE,
    RECORD_SIZE,
    fingerprint_bytes,
    instrument_from_path,
)

log = logging.getLogger(__name__)


class FileReplaced(Exception):
    """The file at the path is no longer the one read so far (shrank, other inode or header)."""


class ScidTail:
    """Incremental whole-record reader of one ``.scid`` file."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self._file: RecordFile | None = None
        self.header_size = HEADER_SIZE
        self.offset = HEADER_SIZE
        self.size = 0

    def open(self) -> None:
        """Open the file and validate its header (raises CorruptFile, also for a missing file)."""
        self.close()
        self._file = f = RecordFile(self.path, LAYOUT)
        self.size = f.size
        self.header_size = f.header_size
        self.offset = self.header_size

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def is_open(self) -> bool:
        return self._file is not None

    def fingerprint(self) -> str | None:
        """Identity of the file (header + first record), None while it has no record yet."""
        head = self._file.read_head()
        return fingerprint_bytes(head) if len(head) == LAYOUT.head_size else None

    def seek(self, offset: int) -> None:
        self.offset = self._file.check_boundary(offset)

    def check_identity(self, fingerprint: str | None) -> None:
        """Raise FileReplaced when the path now names another file than the one being read."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError as exc:
            raise FileReplaced(f"{self.path} disappeared") from exc
        if st.st_ino != self._file.inode:
            raise FileReplaced(f"{self.path} was replaced (new inode)")
        if st.st_size < self.offset:
            raise FileReplaced(f"{self.path} shrank below offset {self.offset}")
        if fingerprint is not None and self.fingerprint() != fingerprint:
            raise FileReplaced(f"{self.path} has other first bytes")

    def available(self) -> int:
        """Whole records between the offset and the end of the file."""
        self.size = self._file.refresh_size()
        if self.size < self.offset:
            raise FileReplaced(f"{self.path} shrank below offset {self.offset}")
        return (self.size - self.offset) // RECORD_SIZE

    def read(self, max_records: int) -> tuple[np.ndarray, int]:
        """Up to ``max_records`` whole records from the offset: (records, their first offset).

        Does not advance the offset; call :meth:`advance` once the records are accepted.
        """
        n = min(self.available(), max_records)
        if n <= 0:
            return np.empty(0, RECORD_DTYPE), self.offset
        return self._file.pread(self.offset, n), self.offset

    def advance(self, records: int) -> None:
        self.offset += records * RECORD_SIZE


def discover(data_dir: Path, instruments: tuple[str, ...]) -> dict[str, Path]:
    """Instrument → file: the configured instruments, or every valid ``*.scid`` of the directory."""
    if instruments:
        return {validate_instrument(name): data_dir / f"{name}.scid" for name in instruments}
    found = {}
    for path in sorted(data_dir.glob("*.scid")):
        try:
            found[validate_instrument(instrument_from_path(path))] = path
        except InvalidInstrument as exc:
            log.warning("skipping %s: %s", path.name, exc.why)
    return found


# -- waking up ---------------------------------------------------------------------------
_IN_MODIFY, _IN_CLOSE_WRITE, _IN_MOVED_TO, _IN_CREATE = 0x2, 0x8, 0x80, 0x100
_IN_NONBLOCK, _IN_CLOEXEC = 0o4000, 0o2000000


def _inotify_fd(directory: str) -> int | None:
    """An inotify descriptor watching ``directory`` for appends and new files, or None."""
    name = ctypes.util.find_library("c")
    if not name or not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            return None
        mask = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_MOVED_TO | _IN_CREATE
        if libc.inotify_add_watch(fd, os.fsencode(directory), mask) < 0:
            os.close(fd)
            return None
        return fd
    except (OSError, AttributeError):
        return None


class Watcher:
    """``await wait()`` returns when a watched file changed, ``kick`` was called, or after ``poll_ms``.

    A wake-up that arrives while nobody waits is remembered, so the next ``wait`` returns at
    once. Built on a bare future and ``call_later`` (``asyncio.wait_for`` costs a task per
    call, which shows at thousands of wake-ups per second).
    """

    def __init__(self, directory: Path, poll_ms: int, use_inotify: bool = True):
        self.poll_s = max(poll_ms, 1) / 1000.0
        self._fd = _inotify_fd(str(directory)) if use_inotify and directory.is_dir() else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woken = False
        self._waiter: asyncio.Future | None = None

    @property
    def mode(self) -> str:
        return "inotify" if self._fd is not None else "poll"

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._fd is not None:
            self._loop.add_reader(self._fd, self._on_ready)

    def _on_ready(self) -> None:
        try:
            while os.read(self._fd, 65536):
                pass
        except BlockingIOError:
            pass
        self.kick()

    def kick(self) -> None:
        self._woken = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float | None = None) -> None:
        if not self._woken:
            loop = self._loop or asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            timer = loop.call_later(self.poll_s if timeout is None else timeout, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        self._woken = False

    def close(self) -> None:
        if self._fd is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None


def _wake(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)
