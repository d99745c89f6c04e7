"""Partition-level steps of the bars domain: ``ohlc_bars`` (+ ``data_gaps``) of both origins
from the validated data, and ``book_snapshots`` + ``book_bars`` from ``depth_events``.

``build_bars`` rewrites each origin's six timeframes (built by :mod:`transforms.bars`) and
the gap report. The book step replays the whole trading date from the book at its start
(``depth_book_state`` point ``start``), so the result does not depend on how the events
were loaded (one read or many); both book tables are replaced for the partition in one
transaction. ``quote_agreement`` judges the book against the ``.scid`` quotes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from marketdata_assets.model.sessions import Market
from marketdata_assets.pipelines.steps import StepResult, time_range
from marketdata_assets.sources.sierra.scid import KIND_QUOTE, KIND_TRADE
from marketdata_assets.storage.warehouse import PartitionWrite, Warehouse, partition_scope
from marketdata_assets.transforms.aggregation import BAR_COLUMNS
from marketdata_assets.transforms.bars import origin_bars, partition_gaps, provenance
from marketdata_assets.transforms.book import ORIGIN, STAGE, BookState, book_bars, replay_book
from marketdata_assets.transforms.normalize import ts_us

# a run of this many missing 1m bars (while the market is open) is an outage, not a quiet
# minute of a thin market; see README "Data quality → Gaps"
DEFAULT_GAP_MIN_MISSING = 15


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
        bars = origin_bars(trades, bars_in, market, trading_date)
        bars = bars.assign(instrument=instrument, trading_date=str(trading_date), origin=origin,
                           source=provenance(*(f for f in (trades, bars_in) if f is not None)), run_id=run_id)
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
