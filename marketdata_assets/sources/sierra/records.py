"""One reader of Sierra Chart's binary record files (``.scid``, ``.depth``): open, header,
whole-record boundaries and the records of a byte range, for the batch readers and the sidecar's tail.

Both formats start with a header holding a 4-byte magic, ``u32 HeaderSize`` at byte 4,
``u32 RecordSize`` at byte 8 and the version at byte 12, followed by fixed-size
little-endian records that Sierra Chart appends while the file is open. So a reader only
ever takes whole records: from a start offset on a record boundary to the last whole
record, leaving a trailing partial record for the next read. Every error is a
:class:`CorruptFile` naming the file and the byte offset at fault.

:class:`RecordFile` is one open file (a descriptor, its validated header, its size and
first bytes); :meth:`RecordFile.map` memory-maps a byte range for batch decodes (no copy),
:meth:`RecordFile.pread` copies a few records for the tail of a growing file.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass

import numpy as np

from marketdata_assets.errors import CorruptFile


@dataclass(frozen=True)
class RecordLayout:
    """A record file format: its magic, header (fields ``header_size``, ``record_size``,
    ``version`` at bytes 4, 8, 12) and record dtype, and the versions this package reads."""

    magic: bytes
    header_dtype: np.dtype
    record_dtype: np.dtype
    versions: tuple[int, ...] = (1,)

    @property
    def header_size(self) -> int:
        """The smallest header a file may declare (the header dtype's size)."""
        return self.header_dtype.itemsize

    @property
    def record_size(self) -> int:
        return self.record_dtype.itemsize

    @property
    def head_size(self) -> int:
        """Header plus first record: the bytes that identify a file (see ``fingerprint_bytes``)."""
        return self.header_size + self.record_size


def parse_header(path: str | os.PathLike, raw: bytes, layout: RecordLayout) -> np.void:
    """The header at the start of ``raw``, validated; the error names the file and the byte offset."""
    path = str(path)
    size = layout.header_size
    if len(raw) < size:
        raise CorruptFile(path, 0, f"truncated header: {len(raw)} of {size} bytes")
    if raw[:4] != layout.magic:
        raise CorruptFile(path, 0, f"bad magic {bytes(raw[:4])!r}, expected {layout.magic!r}")
    h = np.frombuffer(raw, dtype=layout.header_dtype, count=1)[0]
    if int(h["header_size"]) < size:
        raise CorruptFile(path, 4, f"header size {int(h['header_size'])} is below {size}")
    if int(h["record_size"]) != layout.record_size:
        raise CorruptFile(path, 8, f"record size {int(h['record_size'])}, expected {layout.record_size}")
    if int(h["version"]) not in layout.versions:
        raise CorruptFile(path, 12, f"unsupported version {int(h['version'])}")
    return h


class RecordFile:
    """An open record file: ``header`` validated, ``size`` and ``head`` (the first
    ``layout.head_size`` bytes) as of opening. Use as a context manager or :meth:`close` it.

    Opening raises :class:`CorruptFile` for a file that cannot be opened or has a bad header.
    """

    def __init__(self, path: str | os.PathLike, layout: RecordLayout):
        self.path = str(path)
        self.layout = layout
        self.record_size = layout.record_size
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise CorruptFile(self.path, None, f"cannot open: {exc.strerror}") from exc
        try:
            st = os.fstat(fd)
            self.head = os.pread(fd, layout.head_size, 0)
            self.header = parse_header(self.path, self.head, layout)
        except BaseException:
            os.close(fd)
            raise
        self.fd: int | None = fd
        self.inode = st.st_ino
        self.size = st.st_size
        self.header_size = int(self.header["header_size"])

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> RecordFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def refresh_size(self) -> int:
        """The file's size now (it grows while Sierra Chart appends)."""
        self.size = os.fstat(self.fd).st_size
        return self.size

    def read_head(self) -> bytes:
        """The first ``layout.head_size`` bytes as they are now (fewer while the file has no record)."""
        return os.pread(self.fd, self.layout.head_size, 0)

    @property
    def trailing_bytes(self) -> int:
        """Bytes of a partial record at the end of the file (as of the last size seen)."""
        return (self.size - self.header_size) % self.record_size

    def check_boundary(self, offset: int) -> int:
        """``offset`` if it is the start of a record (or the end of the records); CorruptFile otherwise."""
        if offset < self.header_size or (offset - self.header_size) % self.record_size:
            raise CorruptFile(self.path, offset, f"offset is not on a record boundary "
                                                 f"(header {self.header_size}, record {self.record_size})")
        return offset

    def start(self, offset: int | None = None) -> int:
        """Where a read begins: ``offset`` (checked: a record boundary inside the file), or the first record."""
        if offset is None:
            return self.header_size
        self.check_boundary(offset)
        if offset > self.size:
            raise CorruptFile(self.path, offset, f"offset is past the end of the file ({self.size} bytes)")
        return offset

    def whole_records(self, start: int, stop: int | None = None) -> int:
        """How many whole records lie between ``start`` and ``stop`` (default: the end of the file)."""
        end = self.size if stop is None else min(self.size, stop)
        return max(0, (end - start) // self.record_size)

    def map(self, start: int, n: int, populate: bool = False) -> MappedRange:
        """The ``n`` records from byte ``start``, memory-mapped read-only (``n`` > 0).

        ``populate`` pre-faults the whole range in one call where the platform offers
        ``MAP_POPULATE``: cheaper when every byte is read at once, wrong for a scan that
        releases what it has read (:meth:`MappedRange.release`)."""
        return MappedRange(self.fd, start, n * self.record_size, populate)

    def pread(self, start: int, n: int) -> np.ndarray:
        """Up to ``n`` whole records from byte ``start``, copied (for small reads of a growing file)."""
        raw = os.pread(self.fd, n * self.record_size, start)
        whole = len(raw) // self.record_size
        return np.frombuffer(raw, dtype=self.layout.record_dtype, count=whole)


class MappedRange:
    """Bytes ``[start, start + length)`` of a file, mapped read-only (from the allocation
    boundary below ``start``, so a resumed read maps only what it reads).

    Arrays from :meth:`records` are views of the map: drop them before it closes. If an
    exception leaves a view alive in its traceback, the map is unmapped when that view goes.
    """

    def __init__(self, fd: int, start: int, length: int, populate: bool = False):
        self.base = start - start % mmap.ALLOCATIONGRANULARITY
        size = start + length - self.base
        if populate:
            flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
            self._mm = mmap.mmap(fd, size, flags=flags, prot=mmap.PROT_READ, offset=self.base)
        else:
            self._mm = mmap.mmap(fd, size, access=mmap.ACCESS_READ, offset=self.base)

    def records(self, dtype, offset: int, count: int) -> np.ndarray:
        """``count`` items of ``dtype`` from file byte ``offset`` (a view, no copy)."""
        return np.frombuffer(self._mm, dtype=dtype, count=count, offset=offset - self.base)

    def release(self, offset: int, length: int) -> None:
        """Drop the pages of file bytes ``[offset, offset + length)`` from the process (the
        page cache keeps them), so a scan of a big file never holds all of it."""
        if hasattr(mmap, "MADV_DONTNEED") and length > 0:
            lo = offset - self.base
            lo -= lo % mmap.PAGESIZE
            self._mm.madvise(mmap.MADV_DONTNEED, lo, offset - self.base + length - lo)

    def close(self) -> None:
        self._mm.close()

    def __enter__(self) -> MappedRange:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._mm.close()
        except BufferError:
            if exc_type is None:
                raise  # a view outlived the map: a bug in the caller
            # else a frame of the exception's traceback still holds a view; keep that exception
