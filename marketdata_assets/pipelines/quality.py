"""Partition-level steps of the quality domain: ``validate`` (``raw_ticks`` → ``ticks`` /
``base_bars`` origin ``sierra``, asset ``validated_ticks``), ``validate_provider_bars``
(``raw_bars`` → ``base_bars`` origin ``provider``, asset ``validated_bars``), and the
warm-ups they read from earlier partitions (hot or archived).

Routing (which row is kept, which is quarantined) is :mod:`transforms.quality`; the
``quarantine`` rows are :mod:`transforms.quarantine`; the verdict policy (which check
passes, warns or fails) and the partition score are :mod:`transforms.verdicts`. This module
reads the input partition, calls them, and rewrites the output partitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from marketdata_assets.errors import CorruptFile, MarketDataError
from marketdata_assets.model.sessions import Market
from marketdata_assets.pipelines.steps import StepResult, time_range
from marketdata_assets.sources.sierra.scid import probe_scid, read_scid_where
from marketdata_assets.storage.warehouse import PartitionWrite, Warehouse, partition_scope
from marketdata_assets.transforms import badticks
from marketdata_assets.transforms.normalize import as_dates, raw_frame, split_raw, ts_us
from marketdata_assets.transforms.quality import DEFAULT_PARAMS, QualityParams, assess_bars, assess_ticks
from marketdata_assets.transforms.quarantine import (
    BAR_VALUES,
    PROVIDER_BAR_VALUES,
    TICK_VALUES,
    quarantine_rows,
    reason_counts,
)
from marketdata_assets.transforms.verdicts import (
    DEFAULT_MAX_SHARE,
    Verdict,
    check_rules,
    partition_score,
    verdicts,
)


class ReconciliationError(MarketDataError):
    """raw != kept + quarantined: nothing is written, the run fails."""

    def __init__(self, instrument: str, trading_date, raw: int, kept: int, quarantined: int):
        super().__init__(f"{instrument} {trading_date}: raw {raw} != kept {kept} + quarantined {quarantined}")


@dataclass
class ValidationResult(StepResult):
    verdicts: list[Verdict] = field(default_factory=list)
    partition_score: float = 1.0
    quarantined: int = 0


# -- Sierra ticks and bars ----------------------------------------------------------------
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


# -- provider bars --------------------------------------------------------------------------
def provider_candidates(raw: pd.DataFrame) -> pd.DataFrame:
    """``raw_bars`` rows as ``base_bars`` candidates; ``source`` = provider + request."""
    out = raw.copy()
    out["source"] = (raw["provider"].astype(str) + " " + raw["request"].astype(str)).to_numpy(dtype=object)
    return out


def bar_warmup(wh: Warehouse, instrument: str, market: Market, origin: str, trading_date: date,
               params: badticks.BadTickParams) -> tuple[float | None, dict]:
    """The bad-tick scale the instrument's previous partition of ``base_bars`` (``origin``)
    ended with, for the warm-up of ``trading_date`` (None: none stored), and which scale the
    warm-up uses (the larger of it and the asset-class default), in basis points, for the
    metadata. The previous partition may be hot or archived (cold)."""
    prev = wh.query(
        "SELECT trading_date, ts, high, low, close FROM base_bars WHERE instrument = %(i)s AND origin = %(o)s "
        "AND trading_date = (SELECT MAX(trading_date) FROM base_bars WHERE instrument = %(i)s "
        "AND origin = %(o)s AND trading_date < %(d)s) ORDER BY ts",
        {"i": instrument, "o": origin, "d": str(trading_date)})
    cold = _newest_cold(wh, "base_bars", {"instrument": instrument, "origin": origin}, trading_date, prev,
                        ["trading_date", "ts", "high", "low", "close"])
    prev = prev if cold is None else cold
    closes = prev["close"].to_numpy(np.float64)
    scale = badticks.history_scale(closes, prev["high"].to_numpy(np.float64), prev["low"].to_numpy(np.float64),
                                   params) if len(prev) else None
    return scale, _warmup_used(scale, closes, prev, market, params)


def tick_warmup(wh: Warehouse, instrument: str, market: Market, trading_date: date,
                params: badticks.BadTickParams) -> tuple[float | None, dict]:
    """:func:`bar_warmup` for ``validated_ticks``: the scale of the last ``window`` trades of
    the instrument's previous partition of ``ticks``. One small query: the primary key
    (instrument, ts) read backwards from the start of ``trading_date``, at most ``window + 1``
    trades, those of the latest partition kept; an archived previous partition newer than it
    is read from its file instead (as in :func:`bar_warmup`)."""
    prev = wh.query(
        "SELECT trading_date, price FROM ticks WHERE instrument = %(i)s AND ts < %(t)s "
        "AND trading_date < %(d)s AND kind = 'trade' ORDER BY ts DESC LIMIT %(n)s",
        {"i": instrument, "t": wh.ts_param(market.window_us(trading_date)[0]), "d": str(trading_date),
         "n": params.window + 1})
    if len(prev):
        dates = prev["trading_date"].astype(str).str[:10]
        prev = prev[dates == dates.iloc[0]]
    cold = _newest_cold(wh, "ticks", {"instrument": instrument, "kind": "trade"}, trading_date, prev,
                        ["trading_date", "ts", "price"])
    if cold is not None:   # newest first, like the query
        prev = cold.tail(params.window + 1).iloc[::-1].reset_index(drop=True)
    prices = prev["price"].to_numpy(np.float64)[::-1]
    scale = badticks.history_scale(prices, None, None, params) if len(prev) else None
    return scale, _warmup_used(scale, prices, prev, market, params)


def _newest_cold(wh: Warehouse, table: str, scope: dict, before: date, hot: pd.DataFrame,
                 columns: list[str]) -> pd.DataFrame | None:
    """The warm-ups' SQL sees hot rows only: the rows matching ``scope`` of the newest archived
    partition of ``table`` dated before ``before`` and after the ``hot`` rows' date, in ``ts``
    order (None when no such partition holds any)."""
    after = str(hot["trading_date"].iloc[0])[:10] if len(hot) else ""
    for day in reversed(wh.cold_dates(table, scope["instrument"], (None, str(before)))):
        if day <= after:
            break
        rows = wh.read(table, {**scope, "trading_date": day}, columns=columns, order_by=("ts",))
        if len(rows):
            return rows
    return None


def _warmup_used(scale: float | None, prices: np.ndarray, prev: pd.DataFrame, market: Market,
                 params: badticks.BadTickParams) -> dict:
    """Which scale the warm-up uses (the larger of ``scale`` and the asset-class default), in bp."""
    default_bp = params.warmup_scale_bps(market.asset_class)
    scale_bp = None if scale is None else scale / prices[-1] * 1e4
    if scale_bp is None or scale_bp <= default_bp:
        return {"from": f"asset class {market.asset_class}", "scale_bp": default_bp}
    return {"from": f"previous partition {str(prev['trading_date'].iloc[0])[:10]}", "scale_bp": round(float(scale_bp), 3)}


def validate_provider_bars(wh: Warehouse, instrument: str, market: Market, trading_date: date, run_id: str, *,
                           tick_size: float | None, max_share: float = DEFAULT_MAX_SHARE,
                           params: QualityParams = DEFAULT_PARAMS, run_gx: bool = True,
                           runner=None) -> ValidationResult:
    """``raw_bars`` (provider 1m bars as received) → ``base_bars`` with origin ``provider``, and
    ``quarantine`` (stage ``validated_bars``); raw = kept + quarantined. Rows of another
    timeframe than 1m are quarantined as ``timeframe_not_1m``. Both targets (partition ×
    origin / stage) are replaced in one transaction, so an empty ``raw_bars`` partition
    leaves no provider rows and a reader never sees one rewritten without the other."""
    scope = partition_scope(instrument, trading_date)
    raw = wh.read("raw_bars", scope, order_by=("ts", "provider"))
    cand = as_dates(provider_candidates(raw))
    other_tf = cand["timeframe"].to_numpy() != "1m"
    prior_scale, warmup = bar_warmup(wh, instrument, market, "provider", trading_date, params.bars)
    report = assess_bars(cand[~other_tf].reset_index(drop=True), market, trading_date, tick_size, params,
                         run_gx=run_gx and bool((~other_tf).any()), runner=runner, prior_scale=prior_scale)
    rejected = report.quarantined
    if other_tf.any():
        rejected = pd.concat([rejected, cand[other_tf].assign(reason="timeframe_not_1m")], ignore_index=True)
    kept = report.kept.assign(volume=np.rint(report.kept["volume"].to_numpy(np.float64)).astype(np.int64),
                              origin="provider", run_id=run_id).sort_values("ts", kind="stable")
    quarantine = quarantine_rows(rejected, "validated_bars", instrument, trading_date, run_id, PROVIDER_BAR_VALUES)
    reconciled = len(raw) == len(kept) + len(quarantine)
    if not reconciled:  # cannot happen by construction; refuse to write if it ever does
        raise ReconciliationError(instrument, trading_date, len(raw), len(kept), len(quarantine))
    wh.replace_partitions([PartitionWrite("base_bars", kept, {**scope, "origin": "provider"}),  # one transaction
                           PartitionWrite("quarantine", quarantine, {**scope, "stage": "validated_bars"})])
    extra = {"timeframe_not_1m": int(other_tf.sum())} if other_tf.any() else None
    checks = verdicts({"bars": report}, check_rules(["bars"]), max_share, extra)
    score = partition_score({"bars": report}, len(raw))
    first, last = time_range(kept)
    return ValidationResult(
        rows_in=len(raw), rows_out=len(kept), first_ts=first, last_ts=last, preview=kept.head(5),
        details={"base_bars": len(kept), "quarantined": len(quarantine), "reconciled": reconciled,
                 "reconciliation": f"raw {len(raw)} = kept {len(kept)} + quarantined {len(quarantine)}",
                 "quarantined_by_rule": reason_counts(quarantine["reason"]) if len(quarantine) else {},
                 "partition_score": round(score, 6),
                 "providers": ", ".join(sorted(raw["provider"].unique().tolist())) or "-",
                 "tick_size": "-" if tick_size is None else str(tick_size),
                 "bad_tick_warmup": warmup,
                 "seconds": {k: round(v, 4) for k, v in report.seconds.items()}},
        verdicts=checks, partition_score=score, quarantined=len(quarantine))
