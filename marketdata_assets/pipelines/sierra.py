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
from marketdata_assets.pipelines.quality import (
    BAR_VALUES,
    DEFAULT_MAX_SHARE,
    TICK_VALUES,
    ReconciliationError,
    ValidationResult,
    as_dates,
    check_rules,
    partition_score,
    quarantine_rows,
    reason_counts,
    tick_warmup,
    verdicts,
)
from marketdata_assets.pipelines.sierra_read import read_partition
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
from marketdata_assets.transforms.normalize import raw_frame, split_raw, ts_us
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
from marketdata_assets.transforms.quality import DEFAULT_PARAMS, QualityParams, assess_bars, assess_ticks

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
    checkpoint's key) defaults to the file's absolute path. The file is read in bounded
    slices and the quarantine rows are streamed into the transaction
    (:mod:`pipelines.sierra_read`): no file, however large, needs its size in memory."""
    source = source or str(path.resolve())
    cp = None if full_refresh else wh.get_checkpoint(source, trading_date)
    header, size, fingerprint = probe_scid(path)  # first bytes only: where to resume
    start, reset = resume_offset(header.header_size, size, fingerprint,
                                 cp.byte_offset if cp else None, cp.fingerprint if cp else None)

    chunk = read_partition(path, market, trading_date, dates, start)   # in bounded slices (sierra_read.py)
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


_RAW_PROOF = ("SELECT source, COUNT(*) AS n, MIN(source_offset) AS lo, MAX(source_offset) AS hi, "
              "SUM(source_offset) AS offsets, SUM(total_volume) AS volume FROM raw_ticks "
              "WHERE instrument = %(instrument)s AND trading_date = %(trading_date)s GROUP BY source")


def raw_from_file(wh: Warehouse, instrument: str, market: Market, trading_date: date,
                  run_id: str) -> pd.DataFrame | None:
    """The partition's ``raw_ticks`` rows decoded again from their ``.scid`` file (the audit
    trail: same file, same byte offsets), which costs a fraction of reading them back from
    the warehouse; None unless the file is provably the one ``raw_ticks`` was loaded from:
    one source, its checkpoint's fingerprint and size, and the same row count, byte offsets
    (min, max, sum) and total volume as the warehouse's rows (one aggregate query)."""
    proof = wh.query(_RAW_PROOF, {"instrument": instrument, "trading_date": str(trading_date)})
    if len(proof) != 1:
        return None
    p = proof.iloc[0]
    cp = wh.get_checkpoint(p["source"], trading_date)
    path = Path(p["source"])
    try:
        _, size, fingerprint = probe_scid(path)
    except (CorruptFile, OSError):
        return None
    if cp is None or fingerprint != cp.fingerprint or size < cp.byte_offset:
        return None
    lo, hi = market.window_us(trading_date)
    day = np.datetime64(trading_date, "D")
    chunk = read_scid_where(path, lambda ts: np.flatnonzero((ts >= lo) & (ts < hi)), end_offset=cp.byte_offset)
    records = chunk.records
    records = records[market.trading_dates(ts_us(records["ts"])) == day] if len(records) else records
    offsets = records["byte_offset"].to_numpy()
    if len(records) != int(p["n"]) or not len(records) or (
            int(offsets.min()), int(offsets.max()), int(offsets.sum()),
            int(records["total_volume"].to_numpy().astype(np.int64).sum())) != tuple(
            int(p[k]) for k in ("lo", "hi", "offsets", "volume")):
        return None
    raw = raw_frame(records, instrument, market, p["source"], run_id)
    return raw.astype(_RAW_TYPES).assign(trading_date=str(trading_date))  # the types a warehouse read gives


_RAW_TYPES = {**dict.fromkeys(("open", "high", "low", "close"), np.float64),
              **dict.fromkeys(("num_trades", "total_volume", "bid_volume", "ask_volume"), np.int64),
              "kind": np.int16, "sub_trade": np.int16}


def validate(wh: Warehouse, instrument: str, market: Market, trading_date: date, run_id: str, *,
             tick_size: float | None, max_share: float = DEFAULT_MAX_SHARE, params: QualityParams = DEFAULT_PARAMS,
             run_gx: bool = True, runner=None) -> ValidationResult:
    """``raw_ticks`` → ``ticks`` (trades, bid/ask updates) and ``base_bars`` (origin ``sierra``),
    assessed by :func:`assess_ticks` / :func:`assess_bars` against ``tick_size`` (None: no
    grid rule). Kept rows carry their ``quality_score``; every quarantined row goes to
    ``quarantine`` (stage ``validated_ticks``) with the rules it failed. raw = kept +
    quarantined is verified before anything is written (:class:`ReconciliationError`);
    then the three targets are replaced for the partition in one transaction, so a reader
    sees all of this validation or none of it, and a re-run never duplicates."""
    scope = partition_scope(instrument, trading_date)
    raw = raw_from_file(wh, instrument, market, trading_date, run_id)
    if raw is None:  # the file no longer holds exactly what raw_ticks holds: the warehouse's copy
        raw = wh.read("raw_ticks", scope, order_by=("source_offset",))
    ticks, bars = (as_dates(f) for f in split_raw(raw))
    reports = {}
    prior_scale, warmup = tick_warmup(wh, instrument, market, trading_date, params.ticks) if len(ticks) else (None, None)
    if len(ticks) or not len(bars):
        reports["ticks"] = assess_ticks(ticks, market, trading_date, tick_size, params,
                                        run_gx=run_gx and bool(len(ticks)), runner=runner, prior_scale=prior_scale)
    if len(bars):
        reports["bars"] = assess_bars(bars, market, trading_date, tick_size, params, run_gx=run_gx, runner=runner)
    t_kept = _kept(reports.get("ticks"), run_id)
    b_kept = _kept(reports.get("bars"), run_id, origin="sierra")
    quarantine = pd.concat([
        quarantine_rows(reports[kind].quarantined, "validated_ticks", instrument, trading_date, run_id, values)
        for kind, values in (("ticks", TICK_VALUES), ("bars", BAR_VALUES)) if kind in reports
    ], ignore_index=True)
    kept = len(t_kept) + len(b_kept)
    if len(raw) != kept + len(quarantine):
        raise ReconciliationError(instrument, trading_date, len(raw), kept, len(quarantine))
    wh.replace_partitions([PartitionWrite("ticks", t_kept, scope),  # one transaction: raw = kept + quarantined
                           PartitionWrite("base_bars", b_kept, {**scope, "origin": "sierra"}),
                           PartitionWrite("quarantine", quarantine, {**scope, "stage": "validated_ticks"})])
    checks = verdicts(reports, check_rules(["ticks", "bars"]), max_share)
    score = partition_score(reports, len(raw))
    first, last = time_range(t_kept if len(t_kept) or not len(b_kept) else b_kept)
    return ValidationResult(
        rows_in=len(raw), rows_out=kept, first_ts=first, last_ts=last,
        preview=(t_kept if len(t_kept) else b_kept).head(5),
        details={"ticks": len(t_kept), "base_bars": len(b_kept), "quarantined": len(quarantine),
                 "reconciled": True,
                 "reconciliation": f"raw {len(raw)} = kept {kept} + quarantined {len(quarantine)}",
                 "failed_rules": {f"{kind}.{rule}": n for kind, r in reports.items()
                                  for rule, n in r.rule_counts.items() if n},
                 "quarantined_by_rule": reason_counts(quarantine["reason"]) if len(quarantine) else {},
                 "partition_score": round(score, 6),
                 "tick_size": "-" if tick_size is None else str(tick_size),
                 **({"bad_tick_warmup": warmup} if warmup else {}),
                 "seconds": {f"{kind}.{k}": round(v, 4) for kind, r in reports.items() for k, v in r.seconds.items()}},
        verdicts=checks, partition_score=score, quarantined=len(quarantine))


def _kept(report, run_id: str, **extra) -> pd.DataFrame:
    if report is None or not len(report.kept):
        return pd.DataFrame()
    return report.kept.assign(run_id=run_id, **extra).sort_values("ts", kind="stable")


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
                    columns=["ts", "price", "size", "aggressor", "num_trades", "source"], order_by=("ts",))
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
