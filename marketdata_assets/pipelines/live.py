"""Partition-level step of the live path: the sidecar's journal of ProjectX hub messages →
``raw_ticks`` and ``depth_events`` (asset ``live_ticks``).

The journal keeps every hub message as received (one JSON line each,
:mod:`marketdata_assets.sources.projectx.journal`); the replay decodes it again with the
sidecar's own decoder (:class:`~marketdata_assets.sources.projectx.decode.HubDecoder`), so the
warehouse gets exactly the records and depth events the sidecar streamed live, with source
``projectx:<instrument>``.

Bad input loses nothing: raw = kept + quarantined.

- **Depth** (stage ``live_depth``): the trading date's events are screened by the same pure
  rules as Sierra depth (:func:`~marketdata_assets.transforms.book.screen_events`):
  ``bad_price`` (a non-finite or negative price on an entry that carries one: every gateway
  type but Unknown and Reset), ``bad_quantity`` (a negative volume), ``unknown_command`` (a
  gateway type outside 0–11), ``time_backwards``, ``time_outside_file_day`` (here: a time
  outside the trading date its message belongs to, judged by the feed clock, the time of the
  last trade/quote before it) and ``missing_level`` (a modify/delete of a level an earlier
  screened-out event would have made). An event belongs to the trading date of its feed clock.
- **Trades and quotes** (stage ``live_ticks``): the ones the decoder does not believe
  (``bad_price``: non-finite or non-positive; ``bad_size``: negative) never become records,
  live or here; the replay quarantines them with their values as received.

Quarantine rows are written in the same transaction as the events and the checkpoints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from marketdata_assets.model.sessions import Market
from marketdata_assets.pipelines.steps import StepResult, time_range
from marketdata_assets.sources.projectx.rest import PROVIDER
from marketdata_assets.storage.warehouse import Checkpoint, PartitionWrite, Warehouse, partition_scope
from marketdata_assets.transforms.book import MISSING_LEVEL, REASONS, BookState, replay_book, screen_events
from marketdata_assets.transforms.normalize import raw_frame

DEPTH_STAGE = "live_depth"    # quarantine stage of the screened-out hub depth events
TICK_STAGE = "live_ticks"     # … of the trades/quotes the decoder did not believe
PRICED_TYPES = (1, 2, 3, 4, 5, 7, 8, 9, 10, 11)   # gateway depth types that carry a price
MAX_TYPE = 11


def journal_source(instrument: str) -> str:
    """``raw_ticks.source`` / ``depth_events.source`` (and checkpoint key) of replayed hub
    messages: ``projectx:ESZ24``."""
    return f"{PROVIDER}:{instrument}"


DEPTH_DTYPE = np.dtype([("ts", "i8"), ("command", "i2"), ("source_code", "i2"), ("flags", "i2"), ("price", "f8"),
                        ("quantity", "i8"), ("clock", "i8")])


@dataclass
class JournalReplay:
    """A journal decoded from its first line: scid-shaped records and depth events, in order."""

    records: pd.DataFrame     # decode_records columns; byte_offset = the record's ordinal
    depth: np.ndarray         # DEPTH_DTYPE
    bad: list                 # decode.Bad: trades/quotes not believed, in order
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
    decoder, records, depth, bad = HubDecoder(), [], [], []
    for entry in read.entries:
        out = decoder.decode(entry)
        records += out.records
        depth += out.depth
        bad += out.bad
    frame = decode_records(np.array(records, dtype=RECORD_DTYPE), 0)
    frame["byte_offset"] = np.arange(len(frame), dtype=np.int64)
    return JournalReplay(frame, np.array(depth, dtype=DEPTH_DTYPE), bad, len(read.entries), decoder.rejected,
                         read.end_offset, read.torn_bytes, read.fingerprint)


def _utc(us: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.asarray(us, np.int64).view("datetime64[us]")).tz_localize("UTC")


def _number(v):
    """A value as strict JSON (NaN → null, ±inf → "inf"/"-inf"), like the other quarantine rows."""
    if isinstance(v, float) and not np.isfinite(v):
        return None if np.isnan(v) else str(v)
    return v


def _screen(d: np.ndarray, day_lo: int, day_hi: int) -> tuple[np.ndarray, np.ndarray]:
    """(reason, effective time) of hub depth events ``d`` by the book rules (module doc)."""
    code = d["source_code"]
    command = np.where((code < 0) | (code > MAX_TYPE), 255, d["command"])
    return screen_events(d["ts"], command, d["price"], day_lo, day_hi, None,
                         priced=np.isin(code, PRICED_TYPES), quantity=d["quantity"])


def _replay(d: np.ndarray, eff: np.ndarray, reason: np.ndarray, start: BookState):
    return replay_book(eff, d["command"], d["flags"], np.zeros(len(d), np.int64), d["price"], d["quantity"],
                       reason != 0, start, levels=1, snapshots=False)


def screen_depth(depth: np.ndarray, market: Market, trading_date: date) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                                  BookState]:
    """(ordinals of the trading date's events in the journal's depth stream, their reason
    codes, their effective times, the book at the start of the trading date). An event
    belongs to the trading date of its feed clock; the start book is what the valid events
    of the earlier dates built."""
    if not len(depth):
        return np.empty(0, np.int64), np.empty(0, np.int8), np.empty(0, np.int64), BookState.empty()
    lo, hi = market.window_us(trading_date)
    days = market.trading_dates(depth["clock"])
    day = np.datetime64(trading_date, "D")
    pre = depth[days < day]
    start = BookState.empty()
    if len(pre):
        reason, eff = _screen(pre, np.iinfo(np.int64).min, lo)
        start = _replay(pre, eff, reason, BookState.empty()).final
    idx = np.flatnonzero(days == day)
    d = depth[idx]
    reason, eff = _screen(d, lo, hi)
    reason[_replay(d, eff, reason, start).missing] = MISSING_LEVEL
    return idx, reason, eff, start


def _depth_frames(depth: np.ndarray, idx: np.ndarray, reason: np.ndarray, eff: np.ndarray, since: int,
                  instrument: str, trading_date: date, source: str, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(``depth_events`` rows, ``quarantine`` rows) of the events from ordinal ``since`` on."""
    new = idx >= since
    good, bad = new & (reason == 0), new & (reason != 0)
    d, g = depth[idx[good]], idx[good]
    events = pd.DataFrame({
        "instrument": instrument, "ts": eff[good], "trading_date": str(trading_date), "seq": g,
        "command": d["command"], "source_code": d["source_code"], "flags": d["flags"], "num_orders": 0,
        "price": d["price"], "quantity": d["quantity"], "origin": PROVIDER, "source": source,
        "source_offset": g, "run_id": run_id})
    q = depth[idx[bad]]
    raw = [json.dumps({"ts_us": int(e["ts"]), "type": int(e["source_code"]), "command": int(e["command"]),
                       "flags": int(e["flags"]), "price": _number(float(e["price"])), "volume": int(e["quantity"]),
                       "feed_clock_us": int(e["clock"])}) for e in q]
    quarantined = pd.DataFrame({
        "stage": DEPTH_STAGE, "instrument": instrument, "trading_date": str(trading_date), "ts": _utc(eff[bad]),
        "source": source, "source_offset": idx[bad], "reason": [REASONS[r] for r in reason[bad]], "raw": raw,
        "run_id": run_id})
    return events, quarantined


def _tick_quarantine(bad: list, market: Market, trading_date: date, instrument: str, source: str,
                     run_id: str) -> pd.DataFrame:
    """``quarantine`` rows (stage ``live_ticks``) of the trading date's trades/quotes the decoder did
    not believe; ``source_offset`` is the ordinal in the journal's stream of them."""
    ts = np.array([b[0] for b in bad], np.int64)
    mine = np.flatnonzero(market.trading_dates(ts) == np.datetime64(trading_date, "D")) if len(bad) else \
        np.empty(0, np.int64)
    raw = [json.dumps({"ts_us": int(bad[i][0]), "kind": bad[i][1], **{k: _number(v) for k, v in bad[i][3].items()}})
           for i in mine]
    return pd.DataFrame({
        "stage": TICK_STAGE, "instrument": instrument, "trading_date": str(trading_date), "ts": _utc(ts[mine]),
        "source": source, "source_offset": mine, "reason": [bad[i][2] for i in mine], "raw": raw, "run_id": run_id})


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
    idx, reason, eff, start_book = screen_depth(replay.depth, market, trading_date)
    events, bad_depth = _depth_frames(replay.depth, idx, reason, eff, since_depth, instrument, trading_date, source,
                                      run_id)
    bad_ticks = _tick_quarantine(replay.bad, market, trading_date, instrument, source, run_id)
    first, last = time_range(raw)
    checkpoint = Checkpoint(source, instrument, trading_date, replay.fingerprint or "", n_rec, replay.end_offset,
                            None if last is None else int(last.value // 1000), run_id)
    depth_cp = pd.DataFrame([{"source": source, "instrument": instrument, "trading_date": str(trading_date),
                              "fingerprint": replay.fingerprint or "", "byte_offset": replay.end_offset,
                              "file_size": replay.end_offset + replay.torn_bytes, "last_ts": None,
                              "raw_count": n_depth, "run_id": run_id}])
    wh.replace_partitions([
        PartitionWrite("raw_ticks", raw, {**scope, "source": source}, None if reset else since),
        PartitionWrite("depth_events", events, {**scope, "source": source}, None if reset else since_depth),
        PartitionWrite("quarantine", bad_depth, {**scope, "stage": DEPTH_STAGE, "source": source},
                       None if reset else since_depth),
        PartitionWrite("quarantine", bad_ticks, {**scope, "stage": TICK_STAGE, "source": source}),  # all: few
        PartitionWrite("depth_book_state", start_book.as_frame().assign(**scope, source=source, point="start",
                                                                       run_id=run_id),
                       {**scope, "source": source, "point": "start"}),
        PartitionWrite("depth_checkpoints", depth_cp, {"source": source, "trading_date": str(trading_date)}),
    ], checkpoint=checkpoint)
    total = wh.count("raw_ticks", {**scope, "source": source})
    kept_depth = wh.count("depth_events", {**scope, "source": source})
    rules = wh.read("quarantine", {**scope, "source": source}, columns=["stage", "reason"])
    by_rule = {f"{stage}:{reason}": int(n) for (stage, reason), n in rules.value_counts().sort_index().items()}
    q_depth, q_ticks = int((rules["stage"] == DEPTH_STAGE).sum()), int((rules["stage"] == TICK_STAGE).sum())
    return StepResult(rows_in=int((days == day).sum()), rows_out=total, first_ts=first, last_ts=last,
                      preview=raw.head(5),
                      details={"source": source, "journal": str(path), "journal_lines": replay.lines,
                               "rejected_messages": replay.rejected,
                               "journal_bytes": replay.end_offset, "torn_bytes": replay.torn_bytes,
                               "start_offset": since, "end_offset": n_rec, "reset": reset,
                               "appended_rows": len(raw), "appended_depth_events": len(events),
                               "appended_quarantined_depth": len(bad_depth), "depth_events": kept_depth,
                               "quarantined": q_depth + q_ticks, "quarantined_depth": q_depth,
                               "quarantined_ticks": q_ticks, "quarantined_by_rule": by_rule,
                               "depth_reconciled": len(idx) == kept_depth + q_depth,
                               "depth_reconciliation": f"raw {len(idx)} = kept {kept_depth} + quarantined {q_depth}"})
