"""Quality assessment of one partition (one instrument, one trading date). Pure, vectorized.

``assess_ticks`` / ``assess_bars`` run, on the frame in file order (``source_offset``):

1. the row rules — :func:`validation.tick_rules` / ``bar_rules`` plus null keys, tick grid,
   time order and the warn-only rules (names and severities in
   :data:`expectations.EXPECTATION_TABLE`), as numpy masks;
2. the statistical bad-tick flags of :mod:`badticks`.

A row is **quarantined** when it fails a *blocking* rule or carries an *extreme* bad-tick
flag; ``reason`` names every such rule, ';'-joined. Every other row is **kept** with a
``quality_score`` = clip(1 − Σ bad-tick weights − Σ warn weights, 0, 1), so
``len(kept) + len(quarantined) == len(input)`` always.
``partition_score`` = Σ kept scores / input rows (a quarantined row counts 0; an empty
partition scores 1.0): it falls both with quarantine and with suspicious kept rows.
Great Expectations runs only when asked (``run_gx=True``); it audits, it never routes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

import numpy as np
import pandas as pd

from marketdata_assets.model import aggressor
from marketdata_assets.model.sessions import Market
from marketdata_assets.transforms import badticks, validation
from marketdata_assets.transforms.expectations import BLOCKING, EXPECTATION_TABLE, ExpectationOutcome
from marketdata_assets.transforms.normalize import ts_us

TICK_REQUIRED = ("instrument", "ts", "trading_date", "kind", "size")
BAR_REQUIRED = ("instrument", "ts", "trading_date", "open", "high", "low", "close", "volume")
WARN_WEIGHTS = MappingProxyType({
    "trade_side_missing": 0.1,   # prices fine, bid/ask volume split approximate
    "bar_volume_zero": 0.3,      # a padded bar: its prices carry no trade
    "ts_not_increasing": 0.0,    # already scored by the bad-tick flag out_of_order
})


@dataclass(frozen=True)
class QualityParams:
    ticks: badticks.BadTickParams = badticks.TICK_PARAMS
    bars: badticks.BadTickParams = badticks.BAR_PARAMS
    warn_weights: Mapping[str, float] = field(default_factory=lambda: WARN_WEIGHTS)


DEFAULT_PARAMS = QualityParams()


@dataclass(frozen=True)
class QualityReport:
    kept: pd.DataFrame                 # input columns + quality_score
    quarantined: pd.DataFrame          # input columns + reason
    rule_counts: dict[str, int]        # every rule and bad-tick flag → rows flagged
    partition_score: float
    rows_in: int
    expectations: list[ExpectationOutcome] | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def failed_blocking(self) -> list[ExpectationOutcome]:
        return [o for o in self.expectations or [] if o.severity == BLOCKING and not o.success]


# -- primitive masks -----------------------------------------------------------------------
def off_grid(values: np.ndarray, tick: float) -> np.ndarray:
    """True where a finite positive price is not a multiple of ``tick``. Tolerance: 4 f32
    half-ulps of the price (Sierra stores f32: 1.09005 reads back 1.0900499820709229); where
    that reaches a quarter tick (huge price, tiny tick) the check is inconclusive → False."""
    x = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(x) & (x > 0)
        resid = np.abs(x - np.rint(x / tick) * tick)
        tol = np.maximum(np.abs(x) * 2.0 ** -22, tick * 1e-9)
        return valid & (resid > tol) & (tol < tick / 4)


def ts_not_increasing(instrument: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """True where ``ts`` is not after the previous record's of the same instrument (frame order)."""
    n = len(ts)
    if n < 2:
        return np.zeros(n, bool)
    if (instrument[1:] == instrument[:-1]).all():
        return np.r_[False, ts[1:] <= ts[:-1]]
    diff = pd.Series(ts).groupby(pd.factorize(instrument)[0]).diff().to_numpy()
    return np.nan_to_num(diff, nan=1) <= 0


def _nulls(frame: pd.DataFrame, columns) -> dict[str, np.ndarray]:
    return {f"null_{c}": frame[c].isna().to_numpy() for c in columns}


def _ts(frame: pd.DataFrame) -> np.ndarray:
    return ts_us(frame["ts"]) if len(frame) else np.empty(0, np.int64)


# -- rule masks ----------------------------------------------------------------------------
def tick_rule_masks(ticks: pd.DataFrame, market: Market, trading_date: date | str,
                    tick_size: float | None) -> dict[str, np.ndarray]:
    """Every row rule of ticks as a bool mask (True = the row fails); names as in EXPECTATION_TABLE."""
    masks = {**_nulls(ticks, TICK_REQUIRED), **validation.tick_rules(ticks, market, str(trading_date))}
    trade = ticks["kind"].to_numpy() == "trade"
    if tick_size:
        price = np.where(trade, ticks["price"].to_numpy(np.float64), np.nan)
        masks["price_off_grid"] = (off_grid(price, tick_size) | off_grid(ticks["bid"].to_numpy(), tick_size)
                                   | off_grid(ticks["ask"].to_numpy(), tick_size))
    masks["ts_not_increasing"] = ts_not_increasing(ticks["instrument"].to_numpy(), _ts(ticks))
    side = ticks["aggressor"].to_numpy()
    masks["trade_side_missing"] = trade & (side != aggressor.BUY) & (side != aggressor.SELL)
    return masks


def bar_rule_masks(bars: pd.DataFrame, market: Market, trading_date: date | str,
                   tick_size: float | None) -> dict[str, np.ndarray]:
    """Every row rule of bars as a bool mask (True = the row fails)."""
    masks = {**_nulls(bars, BAR_REQUIRED), **validation.bar_rules(bars, market, str(trading_date))}
    if tick_size:
        grid = np.zeros(len(bars), bool)
        for col in ("open", "high", "low", "close"):
            grid |= off_grid(bars[col].to_numpy(), tick_size)
        masks["price_off_grid"] = grid
    masks["ts_not_increasing"] = ts_not_increasing(bars["instrument"].to_numpy(), _ts(bars))
    masks["bar_volume_zero"] = bars["volume"].to_numpy() == 0
    return masks


def expectation_masks(frame: pd.DataFrame, masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The rows each GX expectation counts as unexpected: the rule masks, except that GX's
    compound-unique counts every member of a duplicated (instrument, ts) group and its
    in-set check skips null trading dates."""
    out = dict(masks)
    out["duplicate_ts"] = frame.duplicated(subset=["instrument", "ts"], keep=False).to_numpy()
    out["wrong_trading_date"] = masks["wrong_trading_date"] & frame["trading_date"].notna().to_numpy()
    return out


# -- assessment ----------------------------------------------------------------------------
def _file_order(frame: pd.DataFrame) -> pd.DataFrame:
    if "source_offset" in frame and len(frame) and not frame["source_offset"].is_monotonic_increasing:
        return frame.sort_values("source_offset", kind="stable")
    return frame


def _assess(frame: pd.DataFrame, asset: str, masks_fn, flags_fn, bt_params: badticks.BadTickParams,
            market: Market, trading_date, tick_size, params: QualityParams, run_gx: bool, runner,
            prior_scale: float | None) -> QualityReport:
    t0 = time.perf_counter()
    frame = _file_order(frame)
    masks = masks_fn(frame, market, trading_date, tick_size)
    flags = flags_fn(frame, tick_size, bt_params, prior_scale=prior_scale, asset_class=market.asset_class)
    route = {name: m for name, m in masks.items() if EXPECTATION_TABLE.get(name, (BLOCKING,))[0] == BLOCKING}
    route.update({name: flags.flags[name] for name in badticks.EXTREME_FLAGS})
    score = flags.score.copy()
    for name, weight in params.warn_weights.items():
        if name in masks and weight:
            score -= weight * masks[name]
    kept, quarantined = validation.split_by_rules(frame, route)
    bad = np.zeros(len(frame), bool)
    for m in route.values():
        bad |= m
    kept["quality_score"] = np.clip(score, 0.0, 1.0)[~bad]
    counts = validation.rule_counts({**masks, **flags.flags})
    n = len(frame)
    seconds = {"rules": time.perf_counter() - t0}
    outcomes = None
    if run_gx:
        from marketdata_assets.transforms.expectations import evidence_rows, run_expectations

        t1 = time.perf_counter()   # GX reads the rows the rules flagged and a sample of the rest
        rows = evidence_rows(expectation_masks(frame, masks), n)
        outcomes = run_expectations(frame, asset, masks, trading_date, grid=bool(tick_size), runner=runner,
                                    rows=rows)
        seconds["gx"] = time.perf_counter() - t1
    return QualityReport(kept=kept, quarantined=quarantined, rule_counts=counts,
                         partition_score=float(kept["quality_score"].sum() / n) if n else 1.0,
                         rows_in=n, expectations=outcomes, seconds=seconds)


def assess_ticks(ticks: pd.DataFrame, market: Market, trading_date: date | str, tick_size: float | None,
                 params: QualityParams = DEFAULT_PARAMS, *, run_gx: bool = False, runner=None,
                 prior_scale: float | None = None) -> QualityReport:
    """Validate and score one partition of tick candidates (``ticks`` columns, file order).
    ``tick_size`` None skips the grid rule (use ``contracts.grid_tick_size``);
    ``prior_scale``: the bad-tick scale the previous partition ended with (else the
    market's asset-class default starts the warm-up, see :mod:`badticks`)."""
    return _assess(ticks, "ticks", tick_rule_masks, badticks.tick_flags, params.ticks,
                   market, trading_date, tick_size, params, run_gx, runner, prior_scale)


def assess_bars(bars: pd.DataFrame, market: Market, trading_date: date | str, tick_size: float | None,
                params: QualityParams = DEFAULT_PARAMS, *, run_gx: bool = False, runner=None,
                prior_scale: float | None = None) -> QualityReport:
    """Validate and score one partition of 1m base-bar candidates (``base_bars`` columns);
    ``prior_scale`` as for :func:`assess_ticks`."""
    return _assess(bars, "bars", bar_rule_masks, badticks.bar_flags, params.bars,
                   market, trading_date, tick_size, params, run_gx, runner, prior_scale)
