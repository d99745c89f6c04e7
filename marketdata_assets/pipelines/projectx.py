"""Partition-level steps of the ProjectX path: gateway history → ``raw_bars`` (provider
``projectx``, the request kept), and the contract it came from → ``projectx_contracts``.

A backfill is fetched per instrument over runs of consecutive trading dates, not per
partition: one ``retrieveBars`` call carries up to 20,000 1m bars (about 14 CME days), so
a 90-day bootstrap is 5 calls per instrument instead of 90. ``plan_backfill`` says up
front how many calls that is and how long the rate limit (30 per 30 s) makes it take.

Write rule: each trading date's ``raw_bars`` rows of provider ``projectx`` are replaced in
one transaction (other providers' rows of the partition are left alone), so a re-run
never duplicates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from marketdata_assets.model.sessions import Market
from marketdata_assets.pipelines.steps import StepResult, time_range
from marketdata_assets.sources.projectx import BARS_LIMIT, ProjectXClient
from marketdata_assets.sources.projectx.rest import BARS_RATE, PROVIDER
from marketdata_assets.storage.warehouse import Checkpoint, PartitionWrite, Warehouse, partition_scope
from marketdata_assets.transforms.normalize import raw_frame

MAX_DATE_GAP = timedelta(days=4)   # a longer hole between requested dates starts a new span
SECONDS_PER_CALL = 0.5             # typical gateway answer time for a full page (for the estimate)


@dataclass(frozen=True)
class BackfillPlan:
    instrument: str
    spans: list[tuple[date, date]]
    expected_bars: int
    calls: int
    seconds: float

    def describe(self) -> str:
        return (f"{self.instrument}: {len(self.spans)} span(s), ~{self.expected_bars} bars in ~{self.calls} "
                f"retrieveBars call(s) of at most {BARS_LIMIT}; about {self.seconds:.0f} s at "
                f"{BARS_RATE[0]} calls per {BARS_RATE[1]:g} s")


@dataclass
class ProjectXLoad:
    instrument: str
    trading_date: date
    rows: int
    contract_id: str
    note: str = ""
    requests: list[str] = field(default_factory=list)


def spans(dates: list[date]) -> list[tuple[date, date]]:
    """Consecutive runs of ``dates`` (holes up to ``MAX_DATE_GAP`` bridged: weekends)."""
    out: list[tuple[date, date]] = []
    for d in sorted(set(dates)):
        if out and d - out[-1][1] <= MAX_DATE_GAP:
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


def estimate_seconds(calls: int, rate: tuple[int, float] = BARS_RATE) -> float:
    """Wall time of ``calls`` requests under ``rate`` (the first window's worth go at once)."""
    waiting = max(0, math.ceil(calls / rate[0]) - 1) * rate[1]
    return max(waiting, calls * SECONDS_PER_CALL)


def plan_backfill(instrument: str, market: Market, dates: list[date], limit: int = BARS_LIMIT) -> BackfillPlan:
    runs = spans(dates)
    bars = calls = 0
    for first, last in runs:
        n = 0
        d = first
        while d <= last:
            n += len(market.open_minutes_us(d))
            d += timedelta(days=1)
        bars += n
        calls += max(1, math.ceil(n / (limit - 1)))  # pages overlap by the join bar
    return BackfillPlan(instrument, runs, bars, calls, estimate_seconds(calls))


def _utc(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


def store_contract(wh: Warehouse, client: ProjectXClient, instrument: str, run_id: str) -> str:
    c = client.contract(instrument)
    wh.upsert("projectx_contracts", pd.DataFrame([{
        "instrument": instrument, "contract_id": c.id, "name": c.name, "description": c.description,
        "tick_size": c.tick_size, "tick_value": c.tick_value, "symbol_id": c.symbol_id,
        "resolved_at": pd.Timestamp.now(tz="UTC"), "run_id": run_id}]), ("instrument",))
    return c.id


def load_projectx_bars(wh: Warehouse, client: ProjectXClient, instrument: str, market: Market,
                       dates: list[date], run_id: str, *, limit: int = BARS_LIMIT) -> list[ProjectXLoad]:
    """1m bars of every trading date in ``dates`` → ``raw_bars`` (see the module's write rule)."""
    contract_id = store_contract(wh, client, instrument, run_id)
    loads = []
    for first, last in spans(dates):
        lo, hi = market.window_us(first)[0], market.window_us(last)[1]
        frame = client.fetch_bars(contract_id, _utc(lo), _utc(hi), limit=limit)
        ts_us = frame["ts"].dt.as_unit("us").astype("int64").to_numpy()
        days = market.trading_dates(ts_us) if len(frame) else np.array([], dtype="datetime64[D]")
        for d in sorted(x for x in set(dates) if first <= x <= last):
            rows = frame[days == np.datetime64(d)]
            raw = rows.assign(instrument=instrument, trading_date=str(d), timeframe="1m", run_id=run_id)
            wh.replace_partition("raw_bars", raw, partition_scope(instrument, d, provider=PROVIDER))
            note = "" if len(raw) else ("market closed: no data" if not market.session_bounds_us(d)
                                        else "open day, but the gateway has no bars")
            loads.append(ProjectXLoad(instrument, d, len(raw), contract_id, note,
                                      sorted(set(raw["request"])) if len(raw) else []))
    return loads


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
