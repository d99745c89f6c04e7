"""Partition-level steps of the Sierra path: file → raw_ticks → ticks/base_bars → ohlc_bars.

Each step reads its input partition, computes, and rewrites its output partition through
the warehouse's one-transaction ``replace_partition``, so any step can be re-run at will.
The Dagster assets call these; so do the benchmarks and tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.model.sessions import Market
from marketdata_assets.sources.sierra.scid import read_scid_window, resume_offset
from marketdata_assets.storage.warehouse import Checkpoint, Warehouse, partition_scope
from marketdata_assets.transforms.aggregation import bars_from_bars, bars_from_trades
from marketdata_assets.transforms.normalize import raw_frame, split_raw
from marketdata_assets.transforms.validation import bar_rules, rule_counts, split_by_rules, tick_rules


@dataclass
class StepResult:
    rows_in: int
    rows_out: int
    details: dict = field(default_factory=dict)
    preview: pd.DataFrame | None = None
    first_ts: pd.Timestamp | None = None
    last_ts: pd.Timestamp | None = None


def scid_path(data_dir: str | Path, instrument: str) -> Path:
    return Path(data_dir) / f"{validate_instrument(instrument)}.scid"


def _range(frame: pd.DataFrame) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    if frame.empty:
        return None, None
    return frame["ts"].min(), frame["ts"].max()


def load_raw(wh: Warehouse, path: Path, instrument: str, market: Market, trading_date: date,
             run_id: str, full_refresh: bool = False) -> StepResult:
    """Append the partition's records read since its checkpoint (or all of them after a
    reset) to ``raw_ticks``, and move the checkpoint, in one transaction."""
    source = str(path.resolve())
    lo, hi = market.window_us(trading_date)
    cp = None if full_refresh else wh.get_checkpoint(source, trading_date)
    probe = read_scid_window(path, lo, lo)  # header check + fingerprint, no records decoded
    start, reset = resume_offset(probe.header.header_size, probe.file_size, probe.fingerprint,
                                 cp.byte_offset if cp else None, cp.fingerprint if cp else None)
    chunk = read_scid_window(path, lo, hi, start_offset=start)
    raw = raw_frame(chunk.records, instrument, market, source, run_id)
    first, last = _range(raw)
    checkpoint = Checkpoint(source, instrument, trading_date, chunk.fingerprint, chunk.end_offset,
                            chunk.file_size, None if last is None else int(last.value // 1000), run_id)
    wh.replace_partition("raw_ticks", raw, partition_scope(instrument, trading_date),
                         min_offset=None if reset else start, checkpoint=checkpoint)
    total = wh.count("raw_ticks", partition_scope(instrument, trading_date))
    return StepResult(rows_in=chunk.rows, rows_out=total, first_ts=first, last_ts=last, preview=raw.head(5),
                      details={"source": source, "start_offset": start, "end_offset": chunk.end_offset,
                               "file_size": chunk.file_size, "trailing_bytes": chunk.trailing_bytes,
                               "reset": reset, "appended_rows": len(raw)})


def _quarantine_rows(rejected: pd.DataFrame, stage: str, instrument: str, trading_date: date,
                     run_id: str, value_columns: list[str]) -> pd.DataFrame:
    raw = rejected[value_columns].astype(object).where(rejected[value_columns].notna(), None)
    raw = raw.map(lambda v: v.isoformat() if isinstance(v, pd.Timestamp) else
                  (v.item() if isinstance(v, np.generic) else v))
    return pd.DataFrame({
        "stage": stage, "instrument": instrument, "trading_date": str(trading_date),
        "ts": rejected["ts"].array if len(rejected) else pd.Series(dtype="datetime64[us, UTC]"),
        "source": rejected["source"].to_numpy(dtype=object), "source_offset": rejected["source_offset"].to_numpy(),
        "reason": rejected["reason"].to_numpy(dtype=object),
        "raw": raw.to_dict(orient="records"), "run_id": run_id,
    })


def validate(wh: Warehouse, instrument: str, market: Market, trading_date: date, run_id: str) -> StepResult:
    """``raw_ticks`` → ``ticks`` (trades, bid/ask updates) and ``base_bars``; every row failing
    an invariant goes to ``quarantine`` with the rules it failed. raw = kept + quarantined."""
    scope = partition_scope(instrument, trading_date)
    raw = wh.read("raw_ticks", scope, order_by=("source_offset",))
    ticks, bars = split_raw(raw)
    t_rules = tick_rules(ticks, market, str(trading_date))
    b_rules = bar_rules(bars, market, str(trading_date))
    t_kept, t_bad = split_by_rules(ticks, t_rules)
    b_kept, b_bad = split_by_rules(bars, b_rules)
    t_kept = t_kept.assign(quality_score=1.0, run_id=run_id).sort_values("ts", kind="stable")
    b_kept = b_kept.assign(quality_score=1.0, run_id=run_id).sort_values("ts", kind="stable")
    quarantine = pd.concat([
        _quarantine_rows(t_bad, "validated_ticks", instrument, trading_date, run_id,
                         ["ts", "kind", "price", "size", "bid", "ask", "side", "num_trades"]),
        _quarantine_rows(b_bad, "validated_ticks", instrument, trading_date, run_id,
                         ["ts", "open", "high", "low", "close", "volume", "num_trades"]),
    ], ignore_index=True)
    wh.replace_partition("ticks", t_kept, scope)
    wh.replace_partition("base_bars", b_kept.assign(origin="sierra"), {**scope, "origin": "sierra"})
    wh.replace_partition("quarantine", quarantine, {**scope, "stage": "validated_ticks"})
    counts = {f"ticks.{k}": v for k, v in rule_counts(t_rules).items() if v}
    counts.update({f"bars.{k}": v for k, v in rule_counts(b_rules).items() if v})
    kept = len(t_kept) + len(b_kept)
    first, last = _range(t_kept if len(t_kept) or not len(b_kept) else b_kept)
    return StepResult(rows_in=len(raw), rows_out=kept, first_ts=first, last_ts=last,
                      preview=(t_kept if len(t_kept) else b_kept).head(5),
                      details={"ticks": len(t_kept), "base_bars": len(b_kept), "quarantined": len(quarantine),
                               "reconciled": len(raw) == kept + len(quarantine), "failed_rules": counts})


def build_bars(wh: Warehouse, instrument: str, market: Market, trading_date: date, run_id: str) -> StepResult:
    """All six timeframes of the partition from its validated trades (or base bars)."""
    scope = partition_scope(instrument, trading_date)
    ticks = wh.read("ticks", {**scope, "kind": "trade"}, columns=["ts", "price", "size", "side", "num_trades"],
                    order_by=("ts",))
    base = wh.read("base_bars", {**scope, "origin": "sierra"}, order_by=("ts",))
    parts = []
    if len(ticks):
        parts.append(bars_from_trades(ticks, market, trading_date))
    if len(base):
        parts.append(bars_from_bars(base, market, trading_date))
    bars = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["timeframe", "ts"])
    source = "ticks" if len(ticks) else "base_bars"
    if len(ticks) and len(base):
        source = "ticks+base_bars"  # both kinds in one file: rare, each kind aggregated on its own
    bars = bars.assign(instrument=instrument, trading_date=str(trading_date), origin="sierra",
                       source=source, run_id=run_id)
    wh.replace_partition("ohlc_bars", bars, {**scope, "origin": "sierra"})
    per_tf = bars.groupby("timeframe").size().to_dict() if len(bars) else {}
    first, last = _range(bars)
    return StepResult(rows_in=len(ticks) + len(base), rows_out=len(bars), first_ts=first, last_ts=last,
                      preview=bars[bars["timeframe"] == "1d"].head(1) if len(bars) else None,
                      details={"bars_per_timeframe": {k: int(v) for k, v in per_tf.items()}})
