"""Partition-level steps of market depth: ``.depth`` files → ``depth_events`` (+ quarantine);
the book built from them (``book_snapshots``, ``book_bars``) is ``pipelines/bars.py``.

A trading date spans parts of several UTC-day files (CME: from 17:00 Chicago the day
before): :func:`load_depth` reads each file from its checkpoint, keeps the records whose
time falls in the trading date, and commits events, quarantined records, the book after
the last batch read and the checkpoint in **one transaction per file**. The book is carried
from file to file and from read to read (``depth_book_state``); the book at the start of
the trading date is rebuilt from the first file's earlier records. When a file gets new
records, the files after it are read again from their start, so the book they continue
from is always the one their predecessor ended with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from marketdata_assets.model.sessions import Market
from marketdata_assets.pipelines.sierra.ticks import FileDates
from marketdata_assets.pipelines.steps import StepResult
from marketdata_assets.sources.sierra.depth import (
    CMD_CLEAR,
    END_OF_BATCH,
    RECORD_SIZE,
    depth_path,
    parse_depth_name,
    probe_depth,
    read_depth,
    utc_day_bounds,
)
from marketdata_assets.sources.sierra.depth_discovery import scan_depth_times
from marketdata_assets.sources.sierra.scid import resume_offset
from marketdata_assets.storage.warehouse import PartitionWrite, Warehouse, partition_scope
from marketdata_assets.transforms.book import (
    MISSING_LEVEL,
    ORIGIN,
    REASONS,
    STAGE,
    BookState,
    replay_book,
    screen_events,
)
from marketdata_assets.transforms.partition_dates import DateRange, pending, record_dates

EVENT_COLUMNS = ["ts", "command", "flags", "num_orders", "price", "quantity"]


def depth_files(directory: str | Path, instrument: str, market: Market, trading_date: date) -> list[Path]:
    """The UTC-day files holding the trading date's records, in time order."""
    lo, hi = market.window_us(trading_date)
    first = datetime.fromtimestamp(lo / 1e6, tz=UTC).date()
    last = datetime.fromtimestamp((hi - 1) / 1e6, tz=UTC).date()
    return [depth_path(directory, instrument, first + timedelta(days=k)) for k in range((last - first).days + 1)]


@dataclass(frozen=True)
class DepthFileDates(FileDates):
    read_to: int = 0     # byte offset after the last end-of-batch record looked at (where to look next)


def depth_file_dates(path: str | Path, market: Market, dates: DateRange, from_size: int | None = None) -> DepthFileDates:
    """The date partitions of the whole batches after byte ``from_size`` (all if None), as
    :func:`~marketdata_assets.pipelines.sierra.file_dates` for ``.scid``: the trading dates of
    the records timed inside the file's UTC day and inside the partition set. Records of
    tomorrow's trading date are *pending*; the records of a batch not closed yet are not
    looked at (``read_to`` stops before them: a run would read nothing of them). The others
    are out of range: a time outside the file's day is quarantined by the partition of its
    neighbours (rule ``time_outside_file_day``); a trading date outside the partitions
    belongs to no partition (``unowned``)."""
    start, ts, flags = scan_depth_times(str(path), from_size)
    ends = np.flatnonzero(flags & END_OF_BATCH)
    closed = int(ends[-1]) + 1 if len(ends) else 0
    ts = ts[:closed]
    day_lo, day_hi = utc_day_bounds(parse_depth_name(Path(path).name)[1])
    in_day = (ts >= day_lo) & (ts < day_hi)
    d = record_dates(ts, market, dates)
    wait = pending(ts, market, dates) & in_day
    load = in_day & ~np.isnat(d)
    out = ~load & ~wait
    return DepthFileDates(sorted(str(x) for x in np.unique(d[load])), int(out.sum()), int((out & in_day).sum()),
                          int(wait.sum()), start + closed * RECORD_SIZE)


def _utc(us: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.asarray(us, np.int64).view("datetime64[us]")).tz_localize("UTC")


def _checkpoint(wh: Warehouse, source: str, trading_date: date) -> dict | None:
    rows = wh.read("depth_checkpoints", {"source": source, "trading_date": str(trading_date)})
    if rows.empty:
        return None
    r = rows.iloc[0]
    last = None if pd.isna(r["last_ts"]) else int(r["last_ts"].value // 1000)
    return {"fingerprint": r["fingerprint"], "byte_offset": int(r["byte_offset"]), "last_ts": last,
            "raw_count": int(r["raw_count"])}


def _state(wh: Warehouse, scope: dict, **where) -> BookState:
    return BookState.from_frame(wh.read("depth_book_state", {**scope, **where}))


def _quarantine(cols: dict, offsets: np.ndarray, idx: np.ndarray, reason: np.ndarray, eff: np.ndarray, seq: np.ndarray,
                instrument: str, trading_date: date, source: str, run_id: str) -> pd.DataFrame:
    raw = [json.dumps({"ts_us": int(cols["ts"][i]), "command": int(cols["command"][i]),
                       "flags": int(cols["flags"][i]), "num_orders": int(cols["num_orders"][i]),
                       "price": None if not np.isfinite(cols["price"][i]) else float(cols["price"][i]),
                       "quantity": int(cols["quantity"][i]), "seq": int(s)})
           for i, s in zip(idx, seq, strict=True)]
    return pd.DataFrame({
        "stage": STAGE, "instrument": instrument, "trading_date": str(trading_date), "ts": _utc(eff[idx]),
        "source": source, "source_offset": offsets[idx], "reason": [REASONS[r] for r in reason[idx]],
        "raw": raw, "run_id": run_id,
    })


def _events(cols: dict, offsets: np.ndarray, idx: np.ndarray, eff: np.ndarray, seq: np.ndarray, instrument: str,
            trading_date: date, source: str, run_id: str) -> pd.DataFrame:
    price = cols["price"][idx]
    return pd.DataFrame({
        "instrument": instrument, "ts": eff[idx], "trading_date": str(trading_date), "seq": seq,
        "command": cols["command"][idx].astype(np.int16), "flags": cols["flags"][idx].astype(np.int16),
        "num_orders": cols["num_orders"][idx].astype(np.int64),
        "price": _short(price),
        "quantity": cols["quantity"][idx].astype(np.int64), "origin": ORIGIN, "source": source,
        "source_offset": offsets[idx], "run_id": run_id,
    })


def _short(price: np.ndarray) -> np.ndarray:
    """float32 prices as the shortest decimal (1.09005, not 1.0900499820709229)."""
    uniq, inverse = np.unique(price, return_inverse=True)
    return uniq.astype(str).astype(np.float64)[inverse.reshape(-1)]


def _state_frame(state: BookState, scope: dict, source: str, point: str, run_id: str) -> pd.DataFrame:
    return state.as_frame().assign(**scope, source=source, point=point, run_id=run_id)


def load_depth(wh: Warehouse, directory: str | Path, instrument: str, market: Market, trading_date: date,
               run_id: str, full_refresh: bool = False) -> StepResult:
    """Append the trading date's depth records read since each file's checkpoint (all of
    them after a reset) to ``depth_events`` / ``quarantine`` (stage ``sierra_depth``)."""
    lo, hi = market.window_us(trading_date)
    scope = partition_scope(instrument, trading_date)
    state: BookState | None = None   # the book at the end of the previous file
    raw_base, reread, files, seeded = 0, full_refresh, [], "-"
    appended = quarantined = 0
    preview = None   # the first events this run wrote, for the materialization's preview
    for path in depth_files(directory, instrument, market, trading_date):
        source = str(path.resolve())
        if not path.exists():
            files.append({"file": source, "missing": True})
            continue
        header, size, fingerprint = probe_depth(path)
        cp = None if reread else _checkpoint(wh, source, trading_date)
        start, reset = resume_offset(header.header_size, size, fingerprint,
                                     cp["byte_offset"] if cp else None, cp["fingerprint"] if cp else None)
        chunk = read_depth(path, start)
        cols = chunk.columns
        day_lo, day_hi = utc_day_bounds(parse_depth_name(path.name)[1])
        prev_ts = None if reset else cp["last_ts"]
        reason, eff = screen_events(cols["ts"], cols["command"], cols["price"], day_lo, day_hi, prev_ts)
        writes = []
        if reset:
            if state is None:  # the first file of the trading date: rebuild the book at its start
                pre = np.flatnonzero(eff < lo)
                state = _replay_state(cols, pre, reason, eff)
                clears = np.flatnonzero(cols["command"][pre] == CMD_CLEAR)
                seeded = "clear_book" if len(clears) else ("file_start" if len(pre) else "empty")
                writes.append(PartitionWrite("depth_book_state", _state_frame(state, scope, source, "start", run_id),
                                             {**scope, "point": "start"}))
        else:
            state, raw_base = _state(wh, scope, source=source, point="checkpoint"), cp["raw_count"]
        window = np.flatnonzero((eff >= lo) & (eff < hi))
        sub = {c: cols[c][window] for c in EVENT_COLUMNS}
        replay = replay_book(eff[window], sub["command"], sub["flags"], sub["num_orders"], sub["price"],
                             sub["quantity"], reason[window] != 0, state, levels=1, snapshots=False)
        reason[window[replay.missing]] = MISSING_LEVEL
        state = replay.final
        seq = raw_base + np.arange(len(window), dtype=np.int64)
        good = reason[window] == 0
        offsets = chunk.offsets()
        events = _events(cols, offsets, window[good], eff, seq[good], instrument, trading_date, source, run_id)
        bad = _quarantine(cols, offsets, window[~good], reason, eff, seq[~good], instrument, trading_date, source, run_id)
        raw_base += len(window)
        last_ts = int(eff[-1]) if len(eff) else prev_ts
        checkpoint = pd.DataFrame([{
            "source": source, "instrument": instrument, "trading_date": str(trading_date),
            "fingerprint": chunk.fingerprint, "byte_offset": chunk.end_offset, "file_size": chunk.file_size,
            "last_ts": last_ts, "raw_count": raw_base, "run_id": run_id}]).astype({"last_ts": "Int64"})
        min_offset = None if reset else start
        writes += [
            PartitionWrite("depth_events", events, {**scope, "source": source}, min_offset),
            PartitionWrite("quarantine", bad, {**scope, "stage": STAGE, "source": source}, min_offset),
            PartitionWrite("depth_book_state", _state_frame(state, scope, source, "checkpoint", run_id),
                           {**scope, "source": source, "point": "checkpoint"}),
            PartitionWrite("depth_checkpoints", checkpoint, {"source": source, "trading_date": str(trading_date)}),
        ]
        wh.replace_partitions(writes)
        reread = reread or reset or chunk.rows > 0
        appended, quarantined = appended + len(events), quarantined + len(bad)
        if preview is None and len(events):
            preview = events.head(5).assign(ts=pd.to_datetime(events["ts"].head(5), unit="us", utc=True))
        files.append({"file": source, "start_offset": start, "end_offset": chunk.end_offset, "reset": reset,
                      "records_read": chunk.rows, "in_trading_date": len(window),
                      "pending_records": chunk.pending_records, "trailing_bytes": chunk.trailing_bytes})
    total = wh.count("depth_events", {**scope, "origin": ORIGIN})   # other origins (projectx) are not this file's
    q_total = wh.count("quarantine", {**scope, "stage": STAGE})
    rules = wh.read("quarantine", {**scope, "stage": STAGE}, columns=["reason"])["reason"].value_counts()  # hot and cold
    first_last = wh.query("SELECT MIN(ts) AS lo, MAX(ts) AS hi FROM depth_events WHERE instrument = %(i)s "
                          "AND trading_date = %(d)s AND origin = %(o)s", {"i": instrument, "d": str(trading_date), "o": ORIGIN})
    return StepResult(
        rows_in=appended + quarantined, rows_out=total,
        first_ts=_ts_or_none(first_last["lo"].iloc[0]), last_ts=_ts_or_none(first_last["hi"].iloc[0]), preview=preview,
        details={"files": files, "appended_events": appended, "appended_quarantined": quarantined,
                 "quarantined": q_total, "quarantined_by_rule": {str(r): int(n) for r, n in rules.items()},
                 "quarantined_share": round(q_total / (total + q_total), 6) if total + q_total else 0.0,
                 "book_at_start": seeded, "files_found": sum(1 for f in files if not f.get("missing")),
                 "reconciled": raw_base == total + q_total,
                 "reconciliation": f"raw {raw_base} = kept {total} + quarantined {q_total}"})


def _ts_or_none(value) -> pd.Timestamp | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(int(value), unit="us", tz="UTC") if isinstance(value, int | np.integer) else pd.Timestamp(value)


def _replay_state(cols: dict, idx: np.ndarray, reason: np.ndarray, eff: np.ndarray) -> BookState:
    """The book after the records ``idx`` (read from the file start, before the window)."""
    if not len(idx):
        return BookState.empty()
    r = replay_book(eff[idx], cols["command"][idx], cols["flags"][idx], cols["num_orders"][idx],
                    cols["price"][idx], cols["quantity"][idx], reason[idx] != 0, BookState.empty(),
                    levels=1, snapshots=False)
    return r.final
