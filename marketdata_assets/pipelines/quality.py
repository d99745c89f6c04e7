"""Quality plumbing shared by the validation steps, and the provider-bar validation step.

Routing (which row is kept, which is quarantined) is done by :mod:`transforms.quality`.
This module turns its reports into what the platform stores and shows:

* ``quarantine`` rows (stage, source, offset, raw values as JSON, ``;``-joined reason);
* one :class:`Verdict` per asset check of a partition, with this policy:

  - a **blocking** rule's check *fails* when the rule fires on a row and the rule is one
    that must never fire (:data:`NEVER_FIRE`: the loader or the partition mapping is
    broken, not the market data), or when the rows it quarantined exceed ``max_share``
    of the partition (a systematic fault: wrong tick size, calendar or decoder). A few
    bad prints below that share are the quarantine doing its job: the check *passes*
    and reports how many rows it quarantined;
  - a **warn** rule's check warns whenever it fires (rows are kept, scored down);
  - ``quarantined_share`` (blocking) fails when all quarantined rows together exceed
    ``max_share``; ``bad_ticks`` (warn) reports the statistical bad-tick flags.

No Dagster here: the assets turn verdicts into ``AssetCheckResult``s.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from marketdata_assets.errors import MarketDataError
from marketdata_assets.model.sessions import Market
from marketdata_assets.pipelines.steps import StepResult, time_range
from marketdata_assets.storage.warehouse import PartitionWrite, Warehouse, partition_scope
from marketdata_assets.transforms import badticks
from marketdata_assets.transforms.expectations import (
    BAR_RULES,
    BLOCKING,
    EXPECTATION_TABLE,
    TICK_RULES,
    severity,
)
from marketdata_assets.transforms.quality import DEFAULT_PARAMS, QualityParams, QualityReport, assess_bars

DEFAULT_MAX_SHARE = 0.01
QUARANTINED_SHARE = "quarantined_share"
BAD_TICKS = "bad_ticks"
# blocking rules whose single firing fails the partition: the row could only come from a broken
# loader or partition mapping (keys are set by our code, not by the market)
NEVER_FIRE = frozenset({"null_instrument", "null_ts", "null_trading_date", "null_kind", "wrong_trading_date"})
EXTRA_CHECKS = {
    QUARANTINED_SHARE: (BLOCKING, "the share of the partition's rows quarantined by any rule or extreme bad-tick "
                                  "flag; above max_share the fault is systematic, not a few bad prints"),
    BAD_TICKS: ("warn", "statistical bad-tick flags (jumps, spikes, frozen prices, out of order); extreme ones "
                        "are quarantined, the others lower the row's quality_score"),
}
TICK_VALUES = ["ts", "kind", "price", "size", "bid", "ask", "aggressor", "num_trades"]
BAR_VALUES = ["ts", "open", "high", "low", "close", "volume", "num_trades"]
PROVIDER_BAR_VALUES = ["ts", "timeframe", "open", "high", "low", "close", "volume", "provider", "request"]


class ReconciliationError(MarketDataError):
    """raw != kept + quarantined: nothing is written, the run fails."""

    def __init__(self, instrument: str, trading_date, raw: int, kept: int, quarantined: int):
        super().__init__(f"{instrument} {trading_date}: raw {raw} != kept {kept} + quarantined {quarantined}")


@dataclass(frozen=True)
class Verdict:
    """What one asset check says about one partition."""

    name: str
    blocking: bool
    status: str                  # "pass" | "warn" | "fail"
    description: str
    metadata: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "pass"


@dataclass
class ValidationResult(StepResult):
    verdicts: list[Verdict] = field(default_factory=list)
    partition_score: float = 1.0
    quarantined: int = 0


# -- quarantine -----------------------------------------------------------------------------
def _json_value(v):
    """A value as strict JSON: timestamps as ISO text, NaN as null, ±inf as the text
    "inf"/"-inf" (JSON has neither and PostgreSQL's jsonb refuses them), numpy scalars as Python."""
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else str(v)
    return v


def _json_texts(column: pd.Series) -> list[str]:
    """The JSON text of each value of ``column``, as ``json.dumps(_json_value(v))`` writes it,
    a column at a time: numbers through ``float.__repr__`` / ``str`` of the whole list,
    timestamps through ``isoformat``; any other column value by value."""
    kind = column.dtype.kind if isinstance(column.dtype, np.dtype) else "O"   # nullable types: value by value
    values = column.to_numpy()
    if kind in "iu":
        return list(map(str, values.tolist()))
    if kind == "b":
        return [json.dumps(v) for v in values.tolist()]
    if kind == "f":
        out = list(map(repr, values.astype(np.float64).tolist()))
        for i in np.flatnonzero(~np.isfinite(values)).tolist():
            out[i] = json.dumps(_json_value(float(values[i])))
        return out
    if isinstance(column.dtype, pd.DatetimeTZDtype) and str(column.dtype.tz) == "UTC":   # Timestamp.isoformat
        at = column.dt.tz_localize(None).to_numpy("datetime64[us]")
        whole = at.astype(np.int64) % 1_000_000 == 0
        text = np.where(whole, np.datetime_as_string(at, "s"), np.datetime_as_string(at, "us")).tolist()
        return ['"NaT"' if t == "NaT" else f'"{t}+00:00"' for t in text]
    return [json.dumps(None if v is pd.NA else _json_value(v), default=str) for v in column.astype(object).tolist()]


def json_objects(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """Each row's ``columns`` as a JSON object text, equal to ``json.dumps`` of the row's
    ``{column: _json_value(value)}`` (a test holds this), built column-wise: the quarantine
    of a file's worth of records costs a few µs a row, not a dict and a dumps call each."""
    if not columns or not len(frame):
        return ["{}"] * len(frame)
    parts = [[key + t for t in _json_texts(frame[c])] for c, key in ((c, json.dumps(c) + ": ") for c in columns)]
    return ["{" + ", ".join(row) + "}" for row in zip(*parts, strict=True)]


def quarantine_rows(rejected: pd.DataFrame, stage: str, instrument: str, trading_date: date | str,
                    run_id: str, value_columns: list[str]) -> pd.DataFrame:
    """``quarantine`` rows of the rejected candidates (``reason`` column from the routing)."""
    raw = json_objects(rejected, value_columns)
    offsets = rejected["source_offset"] if "source_offset" in rejected else pd.Series([None] * len(rejected))
    return pd.DataFrame({
        "stage": stage, "instrument": instrument, "trading_date": str(trading_date),
        "ts": rejected["ts"].array if len(rejected) else pd.Series(dtype="datetime64[us, UTC]"),
        "source": rejected["source"].to_numpy(dtype=object),
        "source_offset": pd.array(offsets.to_numpy(), dtype="Int64"),
        "reason": rejected["reason"].to_numpy(dtype=object), "raw": raw, "run_id": run_id,
    })


def reason_counts(reasons: pd.Series) -> dict[str, int]:
    """Rows per rule from ``;``-joined reasons (a row failing two rules counts for both)."""
    counts: Counter[str] = Counter()
    for reason, n in reasons.value_counts().items():
        for rule in str(reason).split(";"):
            counts[rule] += int(n)
    return dict(sorted(counts.items()))


def as_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """``trading_date`` as datetime64 (warehouse reads return ISO text; GX compares timestamps)."""
    if len(frame) and not pd.api.types.is_datetime64_any_dtype(frame["trading_date"]):
        frame = frame.assign(trading_date=pd.to_datetime(frame["trading_date"]))
    return frame


# -- verdicts -------------------------------------------------------------------------------
def _rules_of(kind: str) -> tuple[str, ...]:
    return TICK_RULES if kind == "ticks" else BAR_RULES


def _examples(reports: Mapping[str, QualityReport], rule: str, k: int = 5) -> list[int]:
    out: list[int] = []
    for r in reports.values():
        q = r.quarantined
        if len(q) and "source_offset" in q:
            hit = q["reason"].str.split(";").map(lambda parts: rule in parts).to_numpy(dtype=bool)
            out += [int(v) for v in q.loc[hit, "source_offset"].dropna().head(k)]
    return out[:k]


def _rule_verdict(rule: str, reports: Mapping[str, QualityReport], max_share: float) -> Verdict:
    applies = {kind: r for kind, r in reports.items() if rule in _rules_of(kind)}
    rows = sum(r.rows_in for r in reports.values())
    blocking = severity(rule) == BLOCKING
    meta: dict = {"rows_checked": rows, "applies_to": ",".join(sorted(applies)) or "-"}
    outcomes = {kind: o for kind, r in applies.items() for o in (r.expectations or []) if o.name == rule}
    if outcomes:
        meta["gx_unexpected_count"] = sum(max(o.unexpected_count, 0) for o in outcomes.values())
        meta["gx_success"] = all(o.success for o in outcomes.values())
        meta["gx_observed"] = {kind: o.observed for kind, o in outcomes.items()}
    if rule == "row_count":
        meta["failing_rows"] = 0
        if rows == 0:
            return Verdict(rule, blocking, "warn", "the partition has no rows (holiday, thin market or not loaded)", meta)
        return Verdict(rule, blocking, "pass", f"{rows} rows", meta)
    flagged = sum(int(r.rule_counts.get(rule, 0)) for r in applies.values())
    share = flagged / rows if rows else 0.0
    meta.update(failing_rows=flagged, failing_share=round(share, 6))
    if not blocking:
        status = "warn" if flagged else "pass"
        return Verdict(rule, blocking, status, f"{flagged} of {rows} rows (kept, scored down where weighted)", meta)
    meta.update(max_share=max_share, never_fires=rule in NEVER_FIRE, example_offsets=_examples(reports, rule))
    if flagged and rule in NEVER_FIRE:
        return Verdict(rule, blocking, "fail", f"{flagged} rows quarantined by a rule that must never fire: "
                                               "the loader or the partition mapping is broken", meta)
    if share > max_share:
        return Verdict(rule, blocking, "fail", f"{flagged} of {rows} rows quarantined ({share:.2%} > "
                                               f"max_share {max_share:.2%}): a systematic fault", meta)
    text = f"{flagged} of {rows} rows quarantined ({share:.2%} ≤ {max_share:.2%})" if flagged else f"0 of {rows} rows"
    return Verdict(rule, blocking, "pass", text, meta)


def verdicts(reports: Mapping[str, QualityReport], rules: Sequence[str], max_share: float,
             extra_quarantined: Mapping[str, int] | None = None) -> list[Verdict]:
    """One verdict per rule in ``rules`` plus ``quarantined_share`` and ``bad_ticks``.
    ``reports`` maps "ticks" / "bars" to the partition's reports (either may be absent);
    ``extra_quarantined`` counts rows quarantined before assessment (rule → rows)."""
    extra = dict(extra_quarantined or {})
    out = [_rule_verdict(rule, reports, max_share) for rule in rules]
    rows = sum(r.rows_in for r in reports.values()) + sum(extra.values())
    by_reason: Counter[str] = Counter(extra)
    for r in reports.values():
        if len(r.quarantined):
            by_reason.update(reason_counts(r.quarantined["reason"]))
    quarantined = sum(len(r.quarantined) for r in reports.values()) + sum(extra.values())
    share = quarantined / rows if rows else 0.0
    score = partition_score(reports, rows)
    meta = {"rows_checked": rows, "quarantined": quarantined, "failing_share": round(share, 6),
            "max_share": max_share, "quarantined_by_rule": dict(sorted(by_reason.items())),
            "partition_score": round(score, 6)}
    status = "fail" if share > max_share else "pass"
    out.append(Verdict(QUARANTINED_SHARE, True, status,
                       f"{quarantined} of {rows} rows quarantined ({share:.2%}, max_share {max_share:.2%})", meta))
    flags = {name: sum(int(r.rule_counts.get(name, 0)) for r in reports.values()) for name in badticks.FLAG_NAMES}
    fired = {k: v for k, v in flags.items() if v}
    out.append(Verdict(BAD_TICKS, False, "warn" if fired else "pass",
                       ", ".join(f"{k}: {v}" for k, v in fired.items()) or "no bad-tick flag fired",
                       {"flags": flags, "extreme_flags": list(badticks.EXTREME_FLAGS),
                        "partition_score": round(score, 6), "rows_checked": rows}))
    return out


def partition_score(reports: Mapping[str, QualityReport], rows: int | None = None) -> float:
    """Σ kept quality scores / input rows (``rows``: all of the partition's raw rows, default
    the reports' inputs); a quarantined row counts 0, an empty partition scores 1.0."""
    rows = sum(r.rows_in for r in reports.values()) if rows is None else rows
    kept = sum(float(r.kept["quality_score"].sum()) for r in reports.values() if len(r.kept))
    return kept / rows if rows else 1.0


def check_rules(kinds: Sequence[str]) -> list[str]:
    """Names of the rule checks of an asset validating ``kinds``, in table order."""
    wanted = {rule for kind in kinds for rule in _rules_of(kind)}
    return [rule for rule in EXPECTATION_TABLE if rule in wanted]


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
