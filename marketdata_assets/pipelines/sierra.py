"""Partition-level steps of the Sierra path: file → raw_ticks → ticks/base_bars → ohlc_bars
(+ data_gaps); ``build_bars`` also resamples the provider's validated 1m bars.

Each step reads its input partition, computes, and rewrites its output partition through
the warehouse's one-transaction ``replace_partition``, so any step can be re-run at will.
The Dagster assets call these; so do the benchmarks and tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from marketdata_assets.errors import CorruptFile
from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.model.sessions import Market
from marketdata_assets.pipelines.steps import StepResult, time_range
from marketdata_assets.sources.sierra.scid import (
    HEADER_SIZE,
    RECORD_SIZE,
    probe_scid,
    read_scid_where,
    resume_offset,
    scan_timestamps,
)
from marketdata_assets.storage.warehouse import Checkpoint, PartitionWrite, Warehouse, partition_scope
from marketdata_assets.transforms.aggregation import BAR_COLUMNS, bars_from_bars, bars_from_trades
from marketdata_assets.transforms.gaps import find_gaps
from marketdata_assets.transforms.normalize import raw_frame, ts_us
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

# a run of this many missing 1m bars (while the market is open) is an outage, not a quiet
# minute of a thin market; see README "Data quality → Gaps"
DEFAULT_GAP_MIN_MISSING = 15
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
    checkpoint's key) defaults to the file's absolute path."""
    source = source or str(path.resolve())
    day = np.datetime64(trading_date, "D")
    cp = None if full_refresh else wh.get_checkpoint(source, trading_date)
    header, size, fingerprint = probe_scid(path)  # first bytes only: where to resume
    start, reset = resume_offset(header.header_size, size, fingerprint,
                                 cp.byte_offset if cp else None, cp.fingerprint if cp else None)

    lo, hi = market.window_us(trading_date)
    set_lo, set_hi = market.window_us(dates.first)[0], market.window_us(dates.last)[1]

    def mine(ts: np.ndarray) -> np.ndarray:
        if ((ts >= set_lo) & (ts < set_hi)).all():  # every record inside the partition set: its window is enough
            return np.flatnonzero((ts >= lo) & (ts < hi))
        d, own = _routing(path, ts, start, market, dates)
        return np.flatnonzero((d == day) | (np.isnat(d) & (own == day) & ~pending(ts, market, dates)))

    chunk = read_scid_where(path, mine, start_offset=start)
    inside = record_dates(chunk.records["ts"].dt.as_unit("us").array.asi8, market, dates) == day  # NaT → invalid
    raw = raw_frame(chunk.records[inside], instrument, market, source, run_id)
    rejected = quarantine_rows(chunk.records[~inside].rename(columns={"byte_offset": "source_offset"})
                               .assign(source=source, reason=OUT_OF_RANGE),
                               "sierra_ticks", instrument, trading_date, run_id, OUT_OF_RANGE_VALUES)
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
                               "appended_out_of_range": len(rejected)})


def _bars_of(frame: pd.DataFrame, market: Market, trading_date: date, from_trades: bool) -> pd.DataFrame:
    if not len(frame):
        return pd.DataFrame(columns=BAR_COLUMNS)
    return bars_from_trades(frame, market, trading_date) if from_trades else bars_from_bars(frame, market, trading_date)


def _sources(*frames: pd.DataFrame) -> str:
    """Provenance of an aggregated bar: the distinct sources (files, provider requests) it was built from."""
    names = sorted({s for f in frames if len(f) for s in f["source"].dropna().unique()})
    return ";".join(names) or "-"


def build_bars(wh: Warehouse, instrument: str, market: Market, trading_date: date, run_id: str, *,
               gap_min_missing_bars: int = DEFAULT_GAP_MIN_MISSING) -> StepResult:
    """All six timeframes of the partition for each origin, and its gap report.

    ``sierra`` bars come from the validated trades (and from ``base_bars`` origin
    ``sierra`` when the file stores bars), ``provider`` bars are resampled from the
    provider's validated 1m ``base_bars``; each origin's rows are replaced on their own
    (an origin without input is emptied). ``source`` names the files or provider requests
    the bars were built from. The 1m bars of every origin together are compared with the
    session calendar: runs of at least ``gap_min_missing_bars`` missing minutes replace the
    partition's rows of ``data_gaps``."""
    scope = partition_scope(instrument, trading_date)
    ticks = wh.read("ticks", {**scope, "kind": "trade"},
                    columns=["ts", "price", "size", "side", "num_trades", "source"], order_by=("ts",))
    base = wh.read("base_bars", scope, order_by=("ts",))
    inputs = {"sierra": (ticks, base[base["origin"] == "sierra"]), "provider": (None, base[base["origin"] == "provider"])}
    per_origin: dict[str, pd.DataFrame] = {}
    for origin, (trades, bars_in) in inputs.items():
        parts = [b for b in (_bars_of(trades, market, trading_date, True) if trades is not None else None,
                             _bars_of(bars_in, market, trading_date, False)) if b is not None and len(b)]
        bars = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=BAR_COLUMNS)
        bars = bars.assign(instrument=instrument, trading_date=str(trading_date), origin=origin,
                           source=_sources(*(f for f in (trades, bars_in) if f is not None)), run_id=run_id)
        wh.replace_partition("ohlc_bars", bars, {**scope, "origin": origin})
        per_origin[origin] = bars
    gaps, quiet = partition_gaps(per_origin, market, trading_date, gap_min_missing_bars)
    wh.replace_partition("data_gaps", gaps.assign(instrument=instrument, trading_date=str(trading_date),
                                                  timeframe="1m", run_id=run_id), scope)
    everything = pd.concat([b for b in per_origin.values() if len(b)] or [pd.DataFrame(columns=BAR_COLUMNS)],
                           ignore_index=True)
    per_tf = everything.groupby("timeframe").size().to_dict() if len(everything) else {}
    first, last = time_range(everything)
    return StepResult(
        rows_in=len(ticks) + len(base), rows_out=len(everything), first_ts=first, last_ts=last,
        preview=everything[everything["timeframe"] == "1d"].head(2) if len(everything) else None,
        details={"bars_per_timeframe": {k: int(v) for k, v in per_tf.items()},
                 "bars_per_origin": {o: int(len(b)) for o, b in per_origin.items()},
                 "gap_count": len(gaps), "gap_minutes": int(gaps["missing_bars"].sum()),
                 "longest_gap_minutes": int(gaps["missing_bars"].max()) if len(gaps) else 0,
                 "quiet_minutes": quiet, "gap_min_missing_bars": gap_min_missing_bars,
                 "gaps": {str(g.gap_start): int(g.missing_bars) for g in gaps.head(20).itertuples()}})


def partition_gaps(bars_by_origin: dict[str, pd.DataFrame], market: Market, trading_date: date,
                   min_missing: int) -> tuple[pd.DataFrame, int]:
    """(gaps of at least ``min_missing`` minutes, all missing open minutes) of the union of the
    origins' 1m bars: a minute counts as covered when any origin has a bar for it."""
    starts = [ts_us(b.loc[b["timeframe"] == "1m", "ts"]) for b in bars_by_origin.values() if len(b)]
    covered = np.unique(np.concatenate(starts)) if starts else np.empty(0, np.int64)
    every = find_gaps(covered, market, trading_date, "1m", 1)
    return every[every["missing_bars"] >= min_missing].reset_index(drop=True), int(every["missing_bars"].sum())
