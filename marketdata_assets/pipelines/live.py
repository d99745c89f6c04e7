"""Partition-level step of the live path: the sidecar's journal of ProjectX hub messages →
``raw_ticks`` and ``depth_events`` (asset ``live_ticks``).

The journal keeps every hub message as received (one JSON line each,
:mod:`marketdata_assets.sources.projectx.journal`); the replay decodes it again with the
sidecar's own decoder (:class:`~marketdata_assets.sources.projectx.decode.HubDecoder`), so the
warehouse gets exactly the records and depth events the sidecar streamed live, with source
``projectx:<instrument>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from marketdata_assets.model.sessions import Market
from marketdata_assets.pipelines.steps import StepResult, time_range
from marketdata_assets.sources.projectx.rest import PROVIDER
from marketdata_assets.storage.warehouse import Checkpoint, PartitionWrite, Warehouse, partition_scope
from marketdata_assets.transforms.normalize import raw_frame


def journal_source(instrument: str) -> str:
    """``raw_ticks.source`` / ``depth_events.source`` (and checkpoint key) of replayed hub
    messages: ``projectx:ESZ24``."""
    return f"{PROVIDER}:{instrument}"


DEPTH_DTYPE = np.dtype([("ts", "i8"), ("command", "i2"), ("source_code", "i2"), ("flags", "i2"), ("price", "f8"),
                        ("quantity", "i8")])


@dataclass
class JournalReplay:
    """A journal decoded from its first line: scid-shaped records and depth events, in order."""

    records: pd.DataFrame     # decode_records columns; byte_offset = the record's ordinal
    depth: np.ndarray         # DEPTH_DTYPE
    lines: int
    rejected: int             # hub messages the decoder could not read (skipped, counted)
    end_offset: int
    torn_bytes: int
    fingerprint: str | None


def decode_journal(path: Path) -> JournalReplay:
    """Every whole line of the journal through the sidecar's own decoder (one mapping)."""
    from marketdata_assets.sources.projectx.decode import HubDecoder
    from marketdata_assets.sources.projectx.journal import read_journal
    from marketdata_assets.sources.sierra.scid import RECORD_DTYPE, decode_records

    read = read_journal(path)
    decoder, records, depth = HubDecoder(), [], []
    for entry in read.entries:
        out = decoder.decode(entry)
        records += out.records
        depth += out.depth
    frame = decode_records(np.array(records, dtype=RECORD_DTYPE), 0)
    frame["byte_offset"] = np.arange(len(frame), dtype=np.int64)
    return JournalReplay(frame, np.array(depth, dtype=DEPTH_DTYPE), len(read.entries), decoder.rejected,
                         read.end_offset, read.torn_bytes, read.fingerprint)


def _depth_frame(depth: np.ndarray, idx: np.ndarray, instrument: str, trading_date: date, source: str,
                 run_id: str) -> pd.DataFrame:
    d = depth[idx]
    return pd.DataFrame({
        "instrument": instrument, "ts": d["ts"], "trading_date": str(trading_date), "seq": idx,
        "command": d["command"], "source_code": d["source_code"], "flags": d["flags"], "num_orders": 0,
        "price": d["price"], "quantity": d["quantity"], "origin": PROVIDER, "source": source,
        "source_offset": idx, "run_id": run_id})


def _start_book(depth: np.ndarray, before_us: int, scope: dict, source: str, run_id: str) -> pd.DataFrame:
    """The book the journal's depth events before the trading date built (depth_book_state 'start')."""
    from marketdata_assets.transforms.book import BookState, replay_book

    pre = depth[depth["ts"] < before_us]
    state = BookState.empty() if not len(pre) else replay_book(
        pre["ts"], pre["command"], pre["flags"], np.zeros(len(pre), np.int64), pre["price"], pre["quantity"],
        np.zeros(len(pre), bool), BookState.empty(), levels=1, snapshots=False).final
    return state.as_frame().assign(**scope, source=source, point="start", run_id=run_id)


def load_journal(wh: Warehouse, journal_dir: Path, instrument: str, market: Market, trading_date: date,
                 run_id: str, full_refresh: bool = False) -> StepResult:
    """The sidecar's hub journal of ``instrument`` → the trading date's ``raw_ticks`` (source
    ``projectx:<instrument>``) and ``depth_events`` (origin ``projectx``), decoded by the same
    decoder the sidecar used live. ``source_offset`` is the ordinal of a record (of a depth
    event) in the journal's decoded stream, which a growing journal never changes; the
    checkpoints keep how many were stored, so the rows decoded since the last replay are
    appended in one transaction with both checkpoints and replaying again (after sidecar
    restarts, a kill -9 and its torn last line, or a re-run) never adds a row twice."""
    from marketdata_assets.sources.projectx.journal import journal_path

    path = journal_path(journal_dir, instrument)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no ProjectX journal for {instrument} (is the sidecar running with "
                                f"--projectx {instrument}?)")
    replay = decode_journal(path)
    source, day, scope = journal_source(instrument), np.datetime64(trading_date, "D"), partition_scope(
        instrument, trading_date)
    cp = None if full_refresh else wh.get_checkpoint(source, trading_date)
    dcp = None if full_refresh else wh.read("depth_checkpoints", {"source": source, "trading_date": str(trading_date)})
    n_rec, n_depth = len(replay.records), len(replay.depth)
    reset = (cp is None or dcp is None or dcp.empty or cp.fingerprint != replay.fingerprint
             or cp.byte_offset > n_rec or int(dcp["raw_count"].iloc[0]) > n_depth)
    since, since_depth = (0, 0) if reset else (cp.byte_offset, int(dcp["raw_count"].iloc[0]))
    rec = replay.records
    ts = rec["ts"].dt.as_unit("us").array.asi8 if n_rec else np.empty(0, np.int64)
    days = market.trading_dates(ts) if n_rec else np.empty(0, "datetime64[D]")
    mine = (days == day) & (np.arange(n_rec) >= since)
    raw = raw_frame(rec[mine], instrument, market, source, run_id)
    dday = market.trading_dates(replay.depth["ts"]) == day if n_depth else np.zeros(0, bool)
    events = _depth_frame(replay.depth, np.flatnonzero(dday & (np.arange(n_depth) >= since_depth)), instrument,
                          trading_date, source, run_id)
    first, last = time_range(raw)
    checkpoint = Checkpoint(source, instrument, trading_date, replay.fingerprint or "", n_rec, replay.end_offset,
                            None if last is None else int(last.value // 1000), run_id)
    depth_cp = pd.DataFrame([{"source": source, "instrument": instrument, "trading_date": str(trading_date),
                              "fingerprint": replay.fingerprint or "", "byte_offset": replay.end_offset,
                              "file_size": replay.end_offset + replay.torn_bytes, "last_ts": None,
                              "raw_count": n_depth, "run_id": run_id}])
    lo = market.window_us(trading_date)[0]
    wh.replace_partitions([
        PartitionWrite("raw_ticks", raw, {**scope, "source": source}, None if reset else since),
        PartitionWrite("depth_events", events, {**scope, "source": source}, None if reset else since_depth),
        PartitionWrite("depth_book_state", _start_book(replay.depth, lo, scope, source, run_id),
                       {**scope, "source": source, "point": "start"}),
        PartitionWrite("depth_checkpoints", depth_cp, {"source": source, "trading_date": str(trading_date)}),
    ], checkpoint=checkpoint)
    total = wh.count("raw_ticks", {**scope, "source": source})
    return StepResult(rows_in=int((days == day).sum()), rows_out=total, first_ts=first, last_ts=last,
                      preview=raw.head(5),
                      details={"source": source, "journal": str(path), "journal_lines": replay.lines,
                               "rejected_messages": replay.rejected,
                               "journal_bytes": replay.end_offset, "torn_bytes": replay.torn_bytes,
                               "start_offset": since, "end_offset": n_rec, "reset": reset,
                               "appended_rows": len(raw), "appended_depth_events": len(events),
                               "depth_events": wh.count("depth_events", {**scope, "source": source})})
