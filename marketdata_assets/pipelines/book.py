"""Partition-level book step: ``depth_events`` → ``book_snapshots`` + ``book_bars``, and the
checks that judge them (crossed books, agreement with the ``.scid`` quotes).

The whole trading date is replayed from the book at its start (``depth_book_state`` point
``start``), so the result does not depend on how the events were loaded (one read or many);
both tables are replaced for the partition in one transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from marketdata_assets.model.sessions import Market
from marketdata_assets.pipelines.depth import ORIGIN, STAGE
from marketdata_assets.pipelines.steps import StepResult
from marketdata_assets.sources.sierra.scid import KIND_QUOTE, KIND_TRADE
from marketdata_assets.storage.warehouse import PartitionWrite, Warehouse, partition_scope
from marketdata_assets.transforms.book import BookState, book_bars, replay_book
from marketdata_assets.transforms.normalize import ts_us


@dataclass
class BookResult(StepResult):
    batches: pd.DataFrame | None = None        # per end-of-batch: ts, bid, bid_size, ask, ask_size, crossed, locked
    snapshots: pd.DataFrame | None = None


def partition_events(wh: Warehouse, instrument: str, trading_date: date | str, origin: str = ORIGIN) -> pd.DataFrame:
    """Every record of the partition's ``origin`` in stream order (``seq``): the kept events,
    and the quarantined ones as ``skip`` rows that change no level but whose end-of-batch
    flag still closes the batch they were part of."""
    scope = partition_scope(instrument, trading_date)
    ev = wh.read("depth_events", {**scope, "origin": origin},
                 columns=["ts", "seq", "command", "flags", "num_orders", "price", "quantity"])
    q = wh.read("quarantine", {**scope, "stage": STAGE}, columns=["ts", "raw"]) if origin == ORIGIN else \
        pd.DataFrame({"ts": [], "raw": []})
    raw = [json.loads(r) for r in q["raw"]]
    skipped = pd.DataFrame({"ts": q["ts"], "seq": [r["seq"] for r in raw], "command": 0,
                            "flags": [r["flags"] for r in raw], "num_orders": 0, "price": 0.0, "quantity": 0})
    frames = [f for f in (ev.assign(skip=False), skipped.assign(skip=True)) if len(f)]
    if not frames:
        return ev.assign(skip=False)
    both = pd.concat(frames, ignore_index=True)
    return both.iloc[np.argsort(both["seq"].to_numpy(np.int64), kind="stable")].reset_index(drop=True)


def start_book(wh: Warehouse, instrument: str, trading_date: date | str, origin: str = ORIGIN) -> BookState:
    """The book at the start of the partition, as the ``origin``'s loader stored it (a
    ProjectX journal's rows have source ``projectx:<instrument>``, Sierra's a file path)."""
    rows = wh.read("depth_book_state", {**partition_scope(instrument, trading_date), "point": "start"})
    hub = rows["source"].astype(str).str.startswith("projectx:") if len(rows) else np.zeros(0, bool)
    return BookState.from_frame(rows[hub if origin == "projectx" else ~hub])


def replay_partition(wh: Warehouse, instrument: str, trading_date: date | str, *, levels: int = 10,
                     snapshot_us: int = 1_000_000, origin: str = ORIGIN):
    """Replay the partition's stored records of ``origin`` from its start book."""
    ev = partition_events(wh, instrument, trading_date, origin)
    start = start_book(wh, instrument, trading_date, origin)
    ts = ts_us(ev["ts"]) if len(ev) else np.empty(0, np.int64)
    return replay_book(ts, ev["command"].to_numpy(np.uint8), ev["flags"].to_numpy(np.uint8),
                       ev["num_orders"].to_numpy(np.int64), ev["price"].to_numpy(np.float32),
                       ev["quantity"].to_numpy(np.int64), ev["skip"].to_numpy(bool), start,
                       levels=levels, snapshot_us=snapshot_us), int((~ev["skip"]).sum())


def book_at(wh: Warehouse, instrument: str, trading_date: date | str, at_us: int, levels: int = 10) -> pd.DataFrame:
    """The book as of the last end-of-batch at or before ``at_us`` (side, level, price,
    quantity, num_orders, as_of): what an auditor asks for. Only the records up to that
    end-of-batch are replayed, with no snapshots on the way. Before the trading date's first
    end-of-batch it is the book at the trading date's start (``as_of`` None)."""
    ev = partition_events(wh, instrument, trading_date)
    start = start_book(wh, instrument, trading_date)
    ts = ts_us(ev["ts"]) if len(ev) else np.empty(0, np.int64)
    ends = np.flatnonzero((ev["flags"].to_numpy(np.int64) & 1).astype(bool) & (ts <= at_us))
    if not len(ends):
        return _levels(start, levels, None)
    ev, ts = ev.iloc[: ends[-1] + 1], ts[: ends[-1] + 1]
    final = replay_book(ts, ev["command"].to_numpy(np.uint8), ev["flags"].to_numpy(np.uint8),
                        ev["num_orders"].to_numpy(np.int64), ev["price"].to_numpy(np.float32),
                        ev["quantity"].to_numpy(np.int64), ev["skip"].to_numpy(bool), start,
                        levels=levels, snapshots=False).final
    return _levels(final, levels, int(ts[-1]))


def _levels(book: BookState, levels: int, as_of: int | None) -> pd.DataFrame:
    bids, asks = book.top(levels)
    rows = [(side, k + 1, *lv, as_of) for side, top in (("bid", bids), ("ask", asks)) for k, lv in enumerate(top)]
    return pd.DataFrame(rows, columns=["side", "level", "price", "quantity", "num_orders", "as_of"])


def build_book(wh: Warehouse, instrument: str, market: Market, trading_date: date, run_id: str, *,
               levels: int = 10, snapshot_seconds: float = 1.0) -> BookResult:
    scope = partition_scope(instrument, trading_date)
    _, hi = market.window_us(trading_date)
    replay, n_events = replay_partition(wh, instrument, trading_date, levels=levels,
                                        snapshot_us=max(1, int(round(snapshot_seconds * 1e6))))
    snaps = replay.snapshots
    snapshots = pd.DataFrame({
        "instrument": instrument, "ts": snaps["ts"].to_numpy(np.int64), "trading_date": str(trading_date),
        "side": snaps["side"].to_numpy(object), "level": snaps["level"], "price": snaps["price"],
        "quantity": snaps["quantity"], "num_orders": snaps["num_orders"], "as_of": snaps["as_of"].to_numpy(np.int64),
        "origin": ORIGIN, "run_id": run_id})
    bars = book_bars(replay.batches, end_us=hi)
    bars = bars.assign(ts=bars["ts"].astype(np.int64), instrument=instrument, trading_date=str(trading_date),
                       origin=ORIGIN, run_id=run_id)
    wh.replace_partitions([PartitionWrite("book_snapshots", snapshots, {**scope, "origin": ORIGIN}),
                     PartitionWrite("book_bars", bars, {**scope, "origin": ORIGIN})])
    b = replay.batches
    return BookResult(
        rows_in=n_events, rows_out=len(snapshots), first_ts=_first(snapshots["ts"], min),
        last_ts=_first(snapshots["ts"], max), preview=snapshots.head(5).assign(ts=lambda f: _utc(f["ts"])),
        details={"snapshot_rows": len(snapshots), "snapshot_instants": int(snaps["ts"].nunique()),
                 "book_bars": len(bars), "batch_ends": len(b), "crossed_batch_ends": int(b["crossed"].sum()),
                 "locked_batch_ends": int(b["locked"].sum()), "levels": levels,
                 "snapshot_seconds": snapshot_seconds},
        batches=b, snapshots=snaps)


def _first(us: pd.Series, pick) -> pd.Timestamp | None:
    return pd.Timestamp(int(pick(us)), unit="us", tz="UTC") if len(us) else None


def _utc(us) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.asarray(us, np.int64).view("datetime64[us]")).tz_localize("UTC")


def scid_quotes(wh: Warehouse, instrument: str, trading_date: date | str) -> pd.DataFrame:
    """(ts µs, bid, ask) of the partition's ``.scid`` trades and bid/ask updates, by time."""
    raw = wh.read("raw_ticks", partition_scope(instrument, trading_date), columns=["ts", "high", "low", "kind"],
                  order_by=("source_offset",))
    raw = raw[raw["kind"].isin([KIND_TRADE, KIND_QUOTE]) & (raw["high"] > 0) & (raw["low"] > 0)]
    return pd.DataFrame({"ts": ts_us(raw["ts"]) if len(raw) else np.empty(0, np.int64),
                         "bid": raw["low"].to_numpy(np.float64), "ask": raw["high"].to_numpy(np.float64)})


def quote_agreement(snapshots: pd.DataFrame, quotes: pd.DataFrame, tick: float) -> dict:
    """Compare each snapshot's best bid/ask with the last ``.scid`` quote at or before the
    same instant; agreement = both within one tick (plus float32 rounding)."""
    top = snapshots[snapshots["level"] == 1].pivot_table(index="ts", columns="side", values="price")
    top = top.dropna(subset=[c for c in ("bid", "ask") if c in top.columns]) if len(top) else top
    if not len(top) or not len(quotes) or not {"bid", "ask"} <= set(top.columns):
        return {"compared": 0, "agreeing": 0, "share": None, "worst_ticks": None}
    at = np.asarray(top.index, np.int64)
    idx = np.searchsorted(quotes["ts"].to_numpy(), at, side="right") - 1
    ok = idx >= 0
    q = quotes.iloc[idx[ok]]
    diff = np.maximum(np.abs(top["bid"].to_numpy()[ok] - q["bid"].to_numpy()),
                      np.abs(top["ask"].to_numpy()[ok] - q["ask"].to_numpy()))
    agree = diff <= tick * (1 + 1e-6) + 1e-9
    return {"compared": int(ok.sum()), "agreeing": int(agree.sum()),
            "share": float(agree.mean()) if ok.any() else None,
            "worst_ticks": float(diff.max() / tick) if ok.any() else None}
