"""Quality policy: one :class:`Verdict` per asset check of a partition, from the partition's
``transforms.quality.QualityReport`` objects. Pure: reports in, verdicts and scores out.

* a **blocking** rule's check *fails* when the rule fires on a row and the rule is one
  that must never fire (:data:`NEVER_FIRE`: the loader or the partition mapping is
  broken, not the market data), or when the rows it quarantined exceed ``max_share``
  of the partition (a systematic fault: wrong tick size, calendar or decoder). A few
  bad prints below that share are the quarantine doing its job: the check *passes*
  and reports how many rows it quarantined;
* a **warn** rule's check warns whenever it fires (rows are kept, scored down);
* ``quarantined_share`` (blocking) fails when all quarantined rows together exceed
  ``max_share``; ``bad_ticks`` (warn) reports the statistical bad-tick flags.

No Dagster here: the assets turn verdicts into ``AssetCheckResult``s.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from marketdata_assets.transforms import badticks
from marketdata_assets.transforms.expectations import (
    BAR_RULES,
    BLOCKING,
    EXPECTATION_TABLE,
    TICK_RULES,
    severity,
)
from marketdata_assets.transforms.quality import QualityReport
from marketdata_assets.transforms.quarantine import reason_counts

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
