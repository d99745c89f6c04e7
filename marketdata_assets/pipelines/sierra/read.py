"""One date partition's share of a ``.scid`` file, read in bounded slices.

``sierra_ticks`` loads the records of its trading date and quarantines the out-of-range
records it owns (:mod:`transforms.partition_dates`). A file may hold many dates, or a GiB of
out-of-range records, so nothing here holds a whole file's worth of anything:

1. The records from the read's start up to its end (fixed once, from the file's size: what
   Sierra Chart appends meanwhile is the next read's) are routed :data:`ROUTE_RECORDS` at a
   time from their timestamps alone. The partition's records are decoded as they are found
   (its rows: bounded by the date); its out-of-range records are only counted, and the
   slices holding any are remembered with the routing state they were seen with.
2. :meth:`PartitionRecords.out_of_range` decodes those slices again while the write
   transaction consumes them (``PartitionWrite`` takes a stream), at most
   :data:`QUARANTINE_ROWS` records at a time: their quarantine rows (a JSON object each,
   ~1 KB) are written and dropped before the next are built. It refuses a file whose
   fingerprint changed between the two passes (the transaction then writes nothing).

The routing of a slice depends only on the file: the last in-range date before it (carried
from slice to slice, or found by scanning back from the read's start) and, where none
precedes, the first in-range date after it (scanned forward once), exactly as
:func:`partition_dates.owners` routes a whole read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from marketdata_assets.errors import CorruptFile
from marketdata_assets.model.sessions import Market
from marketdata_assets.sources.sierra.scid import RECORD_SIZE, probe_scid, read_scid_where, scan_timestamps
from marketdata_assets.transforms.partition_dates import (
    NAT,
    DateRange,
    last_in_range,
    owners,
    pending,
    record_dates,
)

ROUTE_RECORDS = 1 << 18      # records routed at a time: 10 MiB of file, ~40 bytes a record of temporaries
QUARANTINE_ROWS = 50_000     # out-of-range records turned into quarantine rows at a time (~1 KB a row)


@dataclass(frozen=True)
class _Slice:
    start: int                 # byte offsets of the slice's records
    end: int
    before: np.datetime64      # the routing state it was routed with
    after: np.datetime64


@dataclass
class _Router:
    """Partition date and owner of each record of consecutive slices of ``[start, end)``."""

    path: Path
    market: Market
    dates: DateRange
    day: np.datetime64
    first: int                        # byte offset of the file's first record
    start: int
    end: int
    window: tuple[int, int]           # the partition's session window (µs)
    set_window: tuple[int, int]       # the whole partition set's
    before: np.datetime64 | None = None   # None: not looked up yet
    _after: tuple[int, np.datetime64] | None = field(default=None, repr=False)

    def select(self, ts: np.ndarray, lo_offset: int, before: np.datetime64 | None = None,
               after: np.datetime64 | None = None) -> tuple[np.ndarray, np.ndarray, np.datetime64, np.datetime64]:
        """(positions of the partition's records, positions of the out-of-range records it
        owns, the ``before`` and ``after`` used) of the slice starting at ``lo_offset``."""
        (lo, hi), (set_lo, set_hi) = self.window, self.set_window
        if ((ts >= set_lo) & (ts < set_hi)).all():  # every record inside the partition set: its window is enough
            idx = np.flatnonzero((ts >= lo) & (ts < hi))
            last = record_dates(ts[-1:], self.market, self.dates)
            self.before = last[0] if len(last) and not np.isnat(last[0]) else self._carry(record_dates(
                ts, self.market, self.dates), lo_offset)
            before, after = NAT if before is None else before, NAT if after is None else after
        else:
            d = record_dates(ts, self.market, self.dates)
            if before is None:
                before = self._before(lo_offset) if np.isnat(d[0]) else NAT
            own = owners(d, before)
            if np.isnat(before) and np.isnat(own).any():   # no in-range record up to here: the first after
                if after is None:
                    after = self._first_after(lo_offset + len(ts) * RECORD_SIZE)
                own = np.where(np.isnat(own), after, own)
            after = NAT if after is None else after
            idx = np.flatnonzero((d == self.day) | (np.isnat(d) & (own == self.day)
                                                    & ~pending(ts, self.market, self.dates)))
            self.before = self._carry(d, lo_offset)
        inside = record_dates(ts[idx], self.market, self.dates) == self.day   # NaT → out of range
        return idx[inside], idx[~inside], before, after

    def _carry(self, d: np.ndarray, lo_offset: int) -> np.datetime64:
        last = last_in_range(d)
        return last if not np.isnat(last) else self._before(lo_offset)

    def _before(self, lo_offset: int) -> np.datetime64:
        """The last in-range date before byte ``lo_offset``: carried, else scanned back from the read's start."""
        if self.before is not None:
            return self.before
        hi = self.start
        while hi > self.first:
            lo = max(self.first, hi - ROUTE_RECORDS * RECORD_SIZE)
            last = last_in_range(record_dates(scan_timestamps(self.path, lo, hi)[0], self.market, self.dates))
            if not np.isnat(last):
                self.before = last
                return last
            hi = lo
        self.before = NAT
        return NAT

    def _first_after(self, offset: int) -> np.datetime64:
        """The first in-range date at or after byte ``offset`` of the read (NaT: none)."""
        if self._after is not None and self._after[0] >= offset:
            return self._after[1]
        lo = offset
        while lo < self.end:
            hi = min(self.end, lo + ROUTE_RECORDS * RECORD_SIZE)
            d = record_dates(scan_timestamps(self.path, lo, hi)[0], self.market, self.dates)
            ok = np.flatnonzero(~np.isnat(d))
            if len(ok):
                self._after = (lo + int(ok[0]) * RECORD_SIZE, d[ok[0]])
                return d[ok[0]]
            lo = hi
        self._after = (self.end, NAT)
        return NAT


@dataclass
class PartitionRecords:
    """What one read of a file gives one date partition: its records (decoded, with
    ``byte_offset``) and the out-of-range records it owns (counted; streamed by
    :meth:`out_of_range`)."""

    records: pd.DataFrame
    quarantined: int
    start_offset: int
    end_offset: int
    file_size: int
    trailing_bytes: int
    fingerprint: str
    router: _Router
    slices: list[_Slice]

    @property
    def rows(self) -> int:
        return len(self.records) + self.quarantined

    def out_of_range(self) -> Iterator[pd.DataFrame]:
        """The owned out-of-range records (decoded, with ``byte_offset``), in file order, at
        most :data:`QUARANTINE_ROWS` at a time."""
        for s in self.slices:
            chunk = read_scid_where(self.router.path, lambda ts, s=s: self.router.select(ts, s.start, s.before,
                                                                                        s.after)[1],
                                    start_offset=s.start, end_offset=s.end)
            if chunk.fingerprint != self.fingerprint:
                raise CorruptFile(str(self.router.path), s.start, "the file was replaced while being read")
            for lo in range(0, chunk.rows, QUARANTINE_ROWS):
                yield chunk.records.iloc[lo:lo + QUARANTINE_ROWS]


def read_partition(path: Path, market: Market, trading_date: date, dates: DateRange, start: int) -> PartitionRecords:
    """The records of ``trading_date`` among the whole records from byte ``start`` (a record
    boundary) to the end of the file as it is now, and the count of out-of-range records
    that partition owns there (see the module docstring)."""
    header, size, _ = probe_scid(path)
    end = start + max(0, size - start) // RECORD_SIZE * RECORD_SIZE
    router = _Router(Path(path), market, dates, np.datetime64(trading_date, "D"), header.header_size, start, end,
                     market.window_us(trading_date), (market.window_us(dates.first)[0], market.window_us(dates.last)[1]))
    frames, slices, quarantined, fingerprint, trailing = [], [], 0, None, 0
    for lo in range(start, end, ROUTE_RECORDS * RECORD_SIZE) if end > start else [start]:
        hi = min(end, lo + ROUTE_RECORDS * RECORD_SIZE)
        seen: dict = {}

        def mine(ts, lo=lo, seen=seen):
            inside, owned, before, after = router.select(ts, lo)
            seen.update(owned=len(owned), before=before, after=after)
            return inside

        chunk = read_scid_where(path, mine, start_offset=lo, end_offset=hi)
        if fingerprint is not None and chunk.fingerprint != fingerprint:
            raise CorruptFile(str(path), lo, "the file was replaced while being read")
        fingerprint, trailing = chunk.fingerprint, (size - header.header_size) % RECORD_SIZE
        frames.append(chunk.records)
        if seen.get("owned"):
            quarantined += seen["owned"]
            slices.append(_Slice(lo, hi, seen["before"], seen["after"]))
    records = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return PartitionRecords(records, quarantined, start, end, size, trailing, fingerprint, router, slices)
