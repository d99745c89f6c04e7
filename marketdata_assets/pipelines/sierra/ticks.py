"""Partition-level steps of the Sierra ``.scid`` path (asset ``sierra_ticks``): which date
partitions a file's records belong to (``file_dates``, for the directory sensor), and file →
``raw_ticks``, the out-of-range records quarantined (``load_raw``).

Each step reads its input, computes, and rewrites its output partition through the
warehouse's one-transaction ``replace_partitions``, so any step can be re-run at will.
The Dagster assets call these; so do the benchmarks, the tests and the live journal replay
(the sidecar's journal is written in the ``.scid`` layout).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from marketdata_assets.errors import CorruptFile
from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.model.sessions import Market
from marketdata_assets.pipelines.sierra.read import read_partition
from marketdata_assets.pipelines.steps import StepResult, time_range
from marketdata_assets.sources.sierra.scid import (
    HEADER_SIZE,
    RECORD_SIZE,
    probe_scid,
    resume_offset,
    scan_timestamps,
)
from marketdata_assets.storage.warehouse import Checkpoint, PartitionWrite, Warehouse, partition_scope
from marketdata_assets.transforms.normalize import raw_frame
from marketdata_assets.transforms.partition_dates import (
    ALL_DATES,
    NAT,
    OUT_OF_RANGE,
    DateRange,
    last_in_range,
    owners,
    pending,
    record_dates,
)
from marketdata_assets.transforms.quarantine import quarantine_rows

# what a quarantined out-of-range record keeps of itself (with its file and byte offset)
OUT_OF_RANGE_VALUES = ["ts", "kind", "open", "high", "low", "close", "num_trades", "total_volume",
                       "bid_volume", "ask_volume"]


def scid_path(data_dir: str | Path, instrument: str) -> Path:
    return Path(data_dir) / f"{validate_instrument(instrument)}.scid"


@dataclass(frozen=True)
class FileDates:
    """What a file (or its records after a byte offset) asks of the date partitions."""

    dates: list[str]     # ISO trading dates to load: of in-range records and of out-of-range records' owners
    out_of_range: int    # records outside every date partition (quarantined by their owner partition)
    unowned: int         # of those, records no partition answers for (the file has no in-range record)
    pending: int = 0     # records of tomorrow's trading date, whose partition does not exist yet


def _routing(path: str | Path, ts: np.ndarray, start: int, market: Market,
             dates: DateRange) -> tuple[np.ndarray, np.ndarray]:
    """(partition date, owner date) of each record of the slice from ``start`` to the end of
    the file (see :mod:`transforms.partition_dates`); the records before ``start`` are
    scanned only when the slice opens with out-of-range records."""
    d = record_dates(ts, market, dates)
    before = NAT
    if len(d) and np.isnat(d[0]):
        before = last_in_range(record_dates(scan_timestamps(path, None, start)[0], market, dates))
    return d, owners(d, before)


def file_dates(path: str | Path, market: Market, dates: DateRange, from_size: int | None = None) -> FileDates:
    """The date partitions the whole records after byte ``from_size`` (all records if None)
    belong to; out-of-range records are counted, never returned as a date."""
    start = None
    if from_size is not None:
        start = max(HEADER_SIZE, from_size - (from_size - HEADER_SIZE) % RECORD_SIZE)
    try:
        ts, _ = scan_timestamps(path, start)
        d, own = _routing(path, ts, start or HEADER_SIZE, market, dates)
    except OSError as exc:
        raise CorruptFile(str(path), start, f"cannot read: {exc.strerror}") from exc
    wait = pending(ts, market, dates)
    out = np.isnat(d) & ~wait
    found = own[~np.isnat(own) & ~wait]
    return FileDates(sorted(str(x) for x in np.unique(found)), int(out.sum()), int((out & np.isnat(own)).sum()),
                     int(wait.sum()))


def load_raw(wh: Warehouse, path: Path, instrument: str, market: Market, trading_date: date,
             run_id: str, full_refresh: bool = False, dates: DateRange = ALL_DATES,
             source: str | None = None) -> StepResult:
    """Append the partition's records read since its checkpoint (or all of them after a
    reset) to ``raw_ticks``, quarantine the out-of-range records this partition answers
    for (rule ``timestamp_out_of_range``, stage ``sierra_ticks``; ``dates`` is the
    partition set), and move the checkpoint, all in one transaction: nothing the
    checkpoint moves past is dropped silently. ``source`` (the rows' source and the
    checkpoint's key) defaults to the file's absolute path. The file is read in bounded
    slices and the quarantine rows are streamed into the transaction
    (:mod:`pipelines.sierra.read`): no file, however large, needs its size in memory."""
    source = source or str(path.resolve())
    cp = None if full_refresh else wh.get_checkpoint(source, trading_date)
    header, size, fingerprint = probe_scid(path)  # first bytes only: where to resume
    start, reset = resume_offset(header.header_size, size, fingerprint,
                                 cp.byte_offset if cp else None, cp.fingerprint if cp else None)

    chunk = read_partition(path, market, trading_date, dates, start)   # in bounded slices (sierra/read.py)
    raw = raw_frame(chunk.records, instrument, market, source, run_id)
    rejected = (quarantine_rows(records.rename(columns={"byte_offset": "source_offset"})
                                .assign(source=source, reason=OUT_OF_RANGE),
                                "sierra_ticks", instrument, trading_date, run_id, OUT_OF_RANGE_VALUES)
                for records in chunk.out_of_range())   # a stream, written while it is produced
    first, last = time_range(raw)
    checkpoint = Checkpoint(source, instrument, trading_date, chunk.fingerprint, chunk.end_offset,
                            chunk.file_size, None if last is None else int(last.value // 1000), run_id)
    scope = partition_scope(instrument, trading_date)
    since = None if reset else start
    wh.replace_partitions([PartitionWrite("raw_ticks", raw, scope, since),
                           PartitionWrite("quarantine", rejected, {**scope, "stage": "sierra_ticks"}, since)],
                          checkpoint=checkpoint)
    total = wh.count("raw_ticks", scope)
    out_of_range = wh.count("quarantine", {**scope, "stage": "sierra_ticks"})
    return StepResult(rows_in=chunk.rows, rows_out=total, first_ts=first, last_ts=last, preview=raw.head(5),
                      details={"source": source, "start_offset": start, "end_offset": chunk.end_offset,
                               "file_size": chunk.file_size, "trailing_bytes": chunk.trailing_bytes,
                               "reset": reset, "appended_rows": len(raw),
                               "quarantined_out_of_range": out_of_range,
                               "appended_out_of_range": chunk.quarantined})
