"""Row-level invariants of ticks and bars. Pure: frame in, (kept, rejected) out.

Every rule yields a boolean "fails" mask; a row failing any rule is rejected with all the
rules it failed, so ``len(kept) + len(rejected) == len(input)`` always holds. Rules:

ticks: ``price_not_finite_positive`` (trades), ``size_negative``, ``bid_ask_not_finite``,
``bid_above_ask`` (when both present), ``outside_session``, ``wrong_trading_date``,
``duplicate_ts`` (a repeated timestamp: the first occurrence is kept).
bars: ``price_not_finite_positive``, ``high_below_open_close``, ``low_above_open_close``,
``high_below_low``, ``volume_negative``, ``outside_session``, ``wrong_trading_date``,
``duplicate_ts``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketdata_assets.model.sessions import Market
from marketdata_assets.transforms.normalize import ts_us


def _finite_positive(x: np.ndarray) -> np.ndarray:
    return np.isfinite(x) & (x > 0)


def _common(frame: pd.DataFrame, market: Market, trading_date: str) -> dict[str, np.ndarray]:
    us = ts_us(frame["ts"]) if len(frame) else np.empty(0, np.int64)
    dates = np.asarray(frame["trading_date"].to_numpy(), dtype="datetime64[D]")
    return {
        "outside_session": ~market.in_session(us) if len(us) else np.zeros(0, bool),
        "wrong_trading_date": dates != np.datetime64(str(trading_date), "D"),
        "duplicate_ts": pd.Series(us).duplicated(keep="first").to_numpy(),
    }


def tick_rules(ticks: pd.DataFrame, market: Market, trading_date: str) -> dict[str, np.ndarray]:
    trade = ticks["kind"].to_numpy() == "trade"
    price = ticks["price"].to_numpy(dtype=np.float64)
    bid = ticks["bid"].to_numpy(dtype=np.float64)
    ask = ticks["ask"].to_numpy(dtype=np.float64)
    both = (bid > 0) & (ask > 0)
    return {
        "price_not_finite_positive": trade & ~_finite_positive(price),
        "size_negative": ticks["size"].to_numpy() < 0,
        "bid_ask_not_finite": ~np.isfinite(bid) | ~np.isfinite(ask) | (bid < 0) | (ask < 0),
        "bid_above_ask": both & (bid > ask),
        **_common(ticks, market, trading_date),
    }


def bar_rules(bars: pd.DataFrame, market: Market, trading_date: str) -> dict[str, np.ndarray]:
    o, h, lo, c = (bars[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close"))
    finite = _finite_positive(o) & _finite_positive(h) & _finite_positive(lo) & _finite_positive(c)
    with np.errstate(invalid="ignore"):
        return {
            "price_not_finite_positive": ~finite,
            "high_below_open_close": finite & (h < np.maximum(o, c)),
            "low_above_open_close": finite & (lo > np.minimum(o, c)),
            "high_below_low": finite & (h < lo),
            "volume_negative": bars["volume"].to_numpy() < 0,
            **_common(bars, market, trading_date),
        }


def split_by_rules(frame: pd.DataFrame, rules: dict[str, np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept rows, rejected rows with a ``reason`` column naming every failed rule)."""
    names = list(rules)
    if not len(frame):
        return frame.copy(), frame.assign(reason=pd.Series(dtype=object))
    fails = np.stack([rules[n] for n in names], axis=1)
    bad = fails.any(axis=1)
    rejected = frame[bad].copy()
    rejected["reason"] = [";".join(n for n, f in zip(names, row, strict=True) if f) for row in fails[bad]]
    return frame[~bad].copy(), rejected


def rule_counts(rules: dict[str, np.ndarray]) -> dict[str, int]:
    return {name: int(mask.sum()) for name, mask in rules.items()}
