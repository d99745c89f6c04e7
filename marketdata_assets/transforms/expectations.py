"""Great Expectations 1.x suites for ticks and bars, built in code.

The suites are the *audit view* of the row rules in :mod:`quality` (which route rows to
quarantine with numpy masks; GX is never on that path). Each expectation carries the name
of the rule it mirrors, and on any frame its ``unexpected_count`` equals that rule's mask
count (a test holds this), except where GX counts differently by design: ``duplicate_ts``
counts every member of a duplicated group (routing keeps the first) and
``wrong_trading_date`` ignores null dates (``null_trading_date`` counts those).
Rules GX has no built-in for (session membership, tick grid, strictly increasing time,
"finite" prices, conditional bid/ask) are checked as boolean helper columns computed with
numpy and expected to be true; the rest use GX's own column, column-pair and compound
expectations on the frame.

``great_expectations`` costs 3–4 s to import, so it is imported inside functions only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from marketdata_assets.model.sessions import Market

BLOCKING, WARN = "blocking", "warn"

# rule → (severity, why). Blocking: failing rows are quarantined and the check fails.
# Warn: reported (and scored down where a weight is set in quality.py); rows are kept.
EXPECTATION_TABLE: dict[str, tuple[str, str]] = {
    "null_instrument": (BLOCKING, "the partition key; a row without it cannot be stored"),
    "null_ts": (BLOCKING, "the time key; a row without it cannot be ordered, bucketed or stored"),
    "null_trading_date": (BLOCKING, "the partition key; the row belongs to no partition"),
    "null_kind": (BLOCKING, "trade vs quote decides which price fields mean anything"),
    "null_size": (BLOCKING, "volume and VWAP would be wrong"),
    "null_open": (BLOCKING, "a bar without all four prices cannot be aggregated"),
    "null_high": (BLOCKING, "a bar without all four prices cannot be aggregated"),
    "null_low": (BLOCKING, "a bar without all four prices cannot be aggregated"),
    "null_close": (BLOCKING, "a bar without all four prices cannot be aggregated"),
    "null_volume": (BLOCKING, "volume and VWAP would be wrong"),
    "price_not_finite_positive": (BLOCKING, "no exchange prints NaN, inf, zero or negative prices here; it is a decode/feed error"),
    "size_negative": (BLOCKING, "a negative size cannot be a trade; it corrupts volume"),
    "volume_negative": (BLOCKING, "a negative volume cannot be a bar; it corrupts volume"),
    "bid_ask_not_finite": (BLOCKING, "a NaN/inf/negative quote poisons mid, spread and the trade side"),
    "bid_above_ask": (BLOCKING, "a crossed single-venue book is a feed error; spread and side would be wrong"),
    "high_below_open_close": (BLOCKING, "OHLC must be self-consistent or every derived bar/indicator is wrong"),
    "low_above_open_close": (BLOCKING, "OHLC must be self-consistent or every derived bar/indicator is wrong"),
    "high_below_low": (BLOCKING, "OHLC must be self-consistent or every derived bar/indicator is wrong"),
    "outside_session": (BLOCKING, "the market was closed (halt, weekend, holiday): a mis-stamped or test record"),
    "wrong_trading_date": (BLOCKING, "the row belongs to another partition; keeping it would duplicate it there"),
    "duplicate_ts": (BLOCKING, "(instrument, ts) is the warehouse key and Sierra stamps unique µs; a repeat double-counts"),
    "price_off_grid": (BLOCKING, "futures/FX print only on the tick grid (f32 tolerance); off-grid is corrupt, not a price"),
    "ts_not_increasing": (WARN, "file order went back in time (re-download/merge); values may be fine and storage orders by ts"),
    "trade_side_missing": (WARN, "aggressor unknown: bid/ask volume split of bars is approximate, prices are fine"),
    "bar_volume_zero": (WARN, "a filled/synthetic bar (providers pad quiet minutes); prices carry no trade"),
    "row_count": (WARN, "an empty partition is legal (holiday, thin market) but worth a look"),
}

TICK_RULES = ("null_instrument", "null_ts", "null_trading_date", "null_kind", "null_size",
              "price_not_finite_positive", "size_negative", "bid_ask_not_finite", "bid_above_ask",
              "outside_session", "wrong_trading_date", "duplicate_ts", "price_off_grid",
              "ts_not_increasing", "trade_side_missing", "row_count")
BAR_RULES = ("null_instrument", "null_ts", "null_trading_date", "null_open", "null_high", "null_low",
             "null_close", "null_volume", "price_not_finite_positive", "high_below_open_close",
             "low_above_open_close", "high_below_low", "volume_negative", "outside_session",
             "wrong_trading_date", "duplicate_ts", "price_off_grid", "ts_not_increasing",
             "bar_volume_zero", "row_count")
# rules GX checks through a numpy helper column (``_ok_<rule>``) because it has no built-in
HELPER_RULES = frozenset({"price_not_finite_positive", "bid_ask_not_finite", "outside_session",
                          "price_off_grid", "ts_not_increasing", "trade_side_missing"})
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 3}
# rows the rules passed that GX re-checks per partition, beside every row they flagged
EVIDENCE_SAMPLE = 10_000


def severity(rule: str) -> str:
    return EXPECTATION_TABLE[rule][0]


@dataclass(frozen=True)
class ExpectationOutcome:
    name: str
    success: bool
    severity: str               # "blocking" | "warn"
    unexpected_count: int
    observed: Any               # small dict/str: unexpected percent and a few examples
    element_count: int


# -- GX plumbing --------------------------------------------------------------------------
class GxRunner:
    """An ephemeral GX context with one pandas data source and whole-dataframe batch
    definitions; build it once per process (``gx_runner()``) — creation is cheap, the import is not."""

    def __init__(self) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(),
                                   analytics_enabled=False, progress_bars=ProgressBarsConfig(globally=False))
        self.context = gx.get_context(mode="ephemeral", project_config=config)
        source = self.context.data_sources.add_pandas("marketdata")
        self._batches = {name: source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("whole")
                         for name in ("ticks", "bars")}

    def validate(self, asset: str, frame: pd.DataFrame, expectations: list, result_format=RESULT_FORMAT):
        import great_expectations as gx

        suite = gx.ExpectationSuite(name=f"{asset}_suite", expectations=expectations)
        batch = self._batches[asset].get_batch(batch_parameters={"dataframe": frame})
        return batch.validate(suite, result_format=result_format)


_RUNNER: GxRunner | None = None


def gx_runner() -> GxRunner:
    global _RUNNER
    if _RUNNER is None:
        _RUNNER = GxRunner()
    return _RUNNER


def _expectations(rules: tuple[str, ...], trading_date: date) -> list:
    import great_expectations.expectations as gxe

    out = []
    for rule in rules:
        meta = {"rule": rule}
        if rule in HELPER_RULES:
            out.append(gxe.ExpectColumnValuesToBeInSet(column=f"_ok_{rule}", value_set=[True], meta=meta))
        elif rule.startswith("null_"):
            out.append(gxe.ExpectColumnValuesToNotBeNull(column=rule[5:], meta=meta))
        elif rule in ("size_negative", "volume_negative"):
            out.append(gxe.ExpectColumnValuesToBeBetween(column=rule.split("_")[0], min_value=0, meta=meta))
        elif rule == "bar_volume_zero":
            out.append(gxe.ExpectColumnValuesToNotBeInSet(column="volume", value_set=[0], meta=meta))
        elif rule == "wrong_trading_date":
            out.append(gxe.ExpectColumnValuesToBeInSet(column="trading_date", meta=meta,
                                                       value_set=[pd.Timestamp(trading_date)]))
        elif rule == "duplicate_ts":
            out.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=["instrument", "ts"], meta=meta))
        elif rule == "row_count":
            out.append(gxe.ExpectTableRowCountToBeBetween(min_value=1, meta=meta))
        else:  # column pairs on "both sides present" views: A >= B
            a, b = {"bid_above_ask": ("_ask", "_bid"), "high_below_open_close": ("_high", "_max_oc"),
                    "low_above_open_close": ("_min_oc", "_low"), "high_below_low": ("_high", "_low")}[rule]
            out.append(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=a, column_B=b, or_equal=True, ignore_row_if="either_value_is_missing", meta=meta))
    return out


def _gx_frame(frame: pd.DataFrame, asset: str, masks: dict[str, np.ndarray], rules: tuple[str, ...]) -> pd.DataFrame:
    """The columns the suite reads, plus numpy helper columns (True = the row passes)."""
    base = ["instrument", "ts", "trading_date"] + (
        ["kind", "size"] if asset == "ticks" else ["open", "high", "low", "close", "volume"])
    out = frame[base].reset_index(drop=True)
    for c in ("instrument", "kind"):  # categories: GX hashes and copies the frame per metric
        if c in out:
            out[c] = out[c].astype("category")
    cols: dict[str, Any] = {}
    for rule in rules:
        if rule in HELPER_RULES:
            cols[f"_ok_{rule}"] = ~masks[rule]
    with np.errstate(invalid="ignore"):
        if asset == "ticks":
            bid, ask = frame["bid"].to_numpy(np.float64), frame["ask"].to_numpy(np.float64)
            cols["_bid"], cols["_ask"] = np.where(bid > 0, bid, np.nan), np.where(ask > 0, ask, np.nan)
        else:
            o, h, lo, c = (frame[k].to_numpy(np.float64) for k in ("open", "high", "low", "close"))
            ok = ~masks["price_not_finite_positive"]
            cols["_high"], cols["_low"] = np.where(ok, h, np.nan), np.where(ok, lo, np.nan)
            cols["_max_oc"] = np.where(ok, np.maximum(o, c), np.nan)
            cols["_min_oc"] = np.where(ok, np.minimum(o, c), np.nan)
    return out.assign(**cols).copy()  # one consolidated block per dtype: GX copies it per metric


def _outcome(result) -> ExpectationOutcome:
    rule = result.expectation_config.meta["rule"]
    r = result.result or {}
    if result.exception_info and result.exception_info.get("raised_exception"):
        observed: Any = f"error: {result.exception_info.get('exception_message')}"
        count = -1
    elif "unexpected_count" in r:
        count = int(r["unexpected_count"])
        observed = {"unexpected_percent": round(float(r.get("unexpected_percent") or 0.0), 6),
                    "examples": [str(v) for v in r.get("partial_unexpected_list", [])[:3]]}
    else:
        count, observed = 0, {"observed_value": r.get("observed_value")}
    return ExpectationOutcome(rule, bool(result.success), severity(rule), count, observed,
                              int(r.get("element_count", r.get("observed_value", 0)) or 0))


def evidence_rows(flagged: dict[str, np.ndarray], n: int, sample: int = EVIDENCE_SAMPLE) -> np.ndarray | None:
    """Positions of the rows a suite needs to audit a partition of ``n`` rows: every row an
    expectation counts as unexpected (``flagged``: :func:`quality.expectation_masks`) and
    ``sample`` evenly spaced others (GX re-checks that the rules' passing rows pass); None
    when that is (nearly) the whole partition anyway."""
    bad = np.zeros(n, bool)
    for mask in flagged.values():
        bad |= mask
    good = np.flatnonzero(~bad)
    if len(good) <= 2 * sample:
        return None
    return np.union1d(np.flatnonzero(bad), good[np.linspace(0, len(good) - 1, sample).astype(np.int64)])


def run_expectations(frame: pd.DataFrame, asset: str, masks: dict[str, np.ndarray], trading_date: date | str,
                     *, grid: bool = True, runner: GxRunner | None = None,
                     rows: np.ndarray | None = None) -> list[ExpectationOutcome]:
    """Validate ``frame`` (``asset`` = "ticks" | "bars") with its suite. ``masks`` are the
    numpy rule masks of :mod:`quality` (used only for the helper columns); ``grid=False``
    leaves out ``price_off_grid`` (no enforced tick size). ``rows`` (:func:`evidence_rows`)
    narrows the frame GX reads to the rows the rules flagged plus a sample of the others:
    the unexpected counts are the same, GX's own work shrinks from the partition's rows
    to those; element counts and percentages are reported for the whole ``frame``."""
    rules = tuple(r for r in (TICK_RULES if asset == "ticks" else BAR_RULES) if grid or r != "price_off_grid")
    day = date.fromisoformat(str(trading_date)) if not isinstance(trading_date, date) else trading_date
    n = len(frame)
    if rows is not None:
        frame, masks = frame.iloc[rows], {k: v[rows] for k, v in masks.items()}
    gx_frame = _gx_frame(frame, asset, masks, rules)
    result = (runner or gx_runner()).validate(asset, gx_frame, _expectations(rules, day))
    order = {rule: i for i, rule in enumerate(rules)}
    return sorted((_of_whole(_outcome(r), n) for r in result.results), key=lambda o: order[o.name])


def _of_whole(o: ExpectationOutcome, n: int) -> ExpectationOutcome:
    """An outcome stated for the ``n`` rows of the partition, whichever rows GX read:
    ``unexpected_percent`` is of the partition's rows (GX's own excludes the rows it skips as
    missing, which differ between the evidence rows and the whole)."""
    observed = o.observed
    if isinstance(observed, dict) and "unexpected_percent" in observed and o.unexpected_count >= 0:
        observed = {**observed, "unexpected_percent": round(100.0 * o.unexpected_count / n, 6) if n else 0.0}
    elif o.name == "row_count":
        observed = {"observed_value": n}
    return ExpectationOutcome(o.name, o.success, o.severity, o.unexpected_count, observed, n)


def run_tick_expectations(ticks: pd.DataFrame, market: Market, trading_date: date | str,
                          tick_size: float | None, *, runner: GxRunner | None = None) -> list[ExpectationOutcome]:
    """The ticks suite on one partition (helper columns computed by :func:`quality.tick_rule_masks`)."""
    from marketdata_assets.transforms.quality import tick_rule_masks

    masks = tick_rule_masks(ticks, market, trading_date, tick_size)
    return run_expectations(ticks, "ticks", masks, trading_date, grid=tick_size is not None, runner=runner)


def run_bar_expectations(bars: pd.DataFrame, market: Market, trading_date: date | str,
                         tick_size: float | None, *, runner: GxRunner | None = None) -> list[ExpectationOutcome]:
    from marketdata_assets.transforms.quality import bar_rule_masks

    masks = bar_rule_masks(bars, market, trading_date, tick_size)
    return run_expectations(bars, "bars", masks, trading_date, grid=tick_size is not None, runner=runner)


def severity_table_markdown() -> str:
    """The blocking/warn table with one-line reasons, for the README."""
    rows = ["| rule | severity | why |", "|---|---|---|"]
    rows += [f"| `{name}` | {sev} | {why} |" for name, (sev, why) in EXPECTATION_TABLE.items()]
    return "\n".join(rows)
