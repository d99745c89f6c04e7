"""Statistical bad-tick detection beyond fixed row rules. Pure and vectorized.

Input is one partition (one instrument) **in file order** (``source_offset``). Prices are
analysed as a sequence: trade prices for ticks (quotes and rows whose price is not finite
and positive are skipped), closes for bars. Each record gets boolean flags:

``price_jump``          |Δp| > ``k_jump`` × scale (Δp = change from the previous trade/close)
``price_jump_extreme``  |Δp| > ``k_extreme`` × scale                              (extreme)
``isolated_spike``      a move > ``k_spike`` × scale straight back (within ``spike_revert``
                        of the move) on the next record: the spike row only   (extreme);
                        bars also: a wick (high/low beyond open and close) > ``k_extreme`` × scale
``flat_price_with_volume`` ≥ ``flat_min_run`` consecutive records at one price (bars: o=h=l=c)
                        over ≥ ``flat_min_seconds`` while volume flows: a frozen feed
``out_of_order``        ts earlier than the previous record's in file order
``duplicate_record``    same ts and the same values as an earlier record             (extreme)

The move away and the move back of a spike are not also counted as jumps. *scale* is
``mad`` (1.4826 × median |Δp| of the previous block of ``window`` records — block-wise,
because a rolling median over 1M rows costs 0.6 s and block medians 10 ms) or ``atr``
(rolling mean of |Δp| for ticks, of the true range for bars, over the previous ``window``
records), floored at ``min_scale_ticks`` ticks and ``min_scale_bps`` of the price, so a
thick book whose trades mostly repeat a price (MAD 0) still has a scale of one tick.

**Warm-up.** Until a partition has ``min_periods`` records of its own (its opening minutes)
the scale is the larger of the scale its previous partition ended with (``prior_scale``,
:func:`history_scale`) and ``warmup_bps`` of the price for its asset class: an instrument
more volatile than its class keeps its own scale, and a calm close does not make the next
open look wild. The 0.5 bp floor alone called ordinary opening moves of a stock (25-65 bp
in AAPL's first minutes) extreme. The partition's own first records are not used: one bad
print among them would inflate the scale that must catch it.

Extreme rows must be quarantined; the others only lower the row's quality score:
``score = clip(1 − Σ weight[flag], 0, 1)`` with the weights in :data:`DEFAULT_WEIGHTS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

EXTREME_FLAGS = ("price_jump_extreme", "isolated_spike", "duplicate_record")
DEFAULT_WEIGHTS = MappingProxyType({
    "price_jump": 0.4,               # a real fast market does this; suspicious, not proven bad
    "price_jump_extreme": 1.0,
    "isolated_spike": 1.0,
    "flat_price_with_volume": 0.3,   # an iceberg can hold a level; a frozen feed looks the same
    "out_of_order": 0.3,             # values may be right, sequence is not
    "duplicate_record": 1.0,
})
FLAG_NAMES = tuple(DEFAULT_WEIGHTS)
# Warm-up scale per asset class (basis points of the price) when there is no previous
# partition: about one calm session's average move per record, so that 50 × it (extreme)
# is far beyond any ordinary opening move and far below a decimal-shifted print.
TICK_WARMUP_BPS = MappingProxyType({"FUTURE": 1.0, "FOREX": 0.5, "CRYPTO": 2.0, "STOCK": 2.0, "STOCK_BIST": 2.0})
BAR_WARMUP_BPS = MappingProxyType({"FUTURE": 5.0, "FOREX": 2.0, "CRYPTO": 20.0, "STOCK": 10.0, "STOCK_BIST": 10.0})


@dataclass(frozen=True)
class BadTickParams:
    scale: str = "mad"              # "mad" | "atr"
    window: int = 200               # records per scale estimate
    min_periods: int = 20           # fewer records than this: the floor alone is the scale
    k_jump: float = 10.0
    k_extreme: float = 50.0
    k_spike: float = 10.0
    spike_revert: float = 0.25      # |away + back| ≤ spike_revert × |away|
    min_scale_ticks: float = 1.0
    min_scale_bps: float = 0.5
    flat_min_run: int = 100         # consecutive records at one price …
    flat_min_seconds: float = 300.0  # … spanning at least this long
    weights: MappingProxyType = field(default_factory=lambda: DEFAULT_WEIGHTS)
    warmup_bps: MappingProxyType = field(default_factory=lambda: TICK_WARMUP_BPS)  # asset class → bp
    warmup_default_bps: float = 2.0  # an asset class not in warmup_bps

    def warmup_scale_bps(self, asset_class: str | None) -> float:
        return float(self.warmup_bps.get(asset_class or "", self.warmup_default_bps))

    def __post_init__(self):
        if self.scale not in ("mad", "atr"):
            raise ValueError(f"scale must be 'mad' or 'atr', not {self.scale!r}")
        unknown = set(self.weights) - set(FLAG_NAMES)
        if unknown:
            raise ValueError(f"unknown bad-tick flags in weights: {sorted(unknown)}")


TICK_PARAMS = BadTickParams()
BAR_PARAMS = BadTickParams(scale="atr", window=30, min_periods=10, flat_min_run=15, flat_min_seconds=0.0,
                           warmup_bps=BAR_WARMUP_BPS, warmup_default_bps=10.0)


@dataclass(frozen=True)
class BadTicks:
    flags: dict[str, np.ndarray]    # name → bool mask over the input rows
    extreme: np.ndarray             # rows that must be quarantined
    score: np.ndarray               # per-row quality score in [0, 1]


def _block_median_scale(absd: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """1.4826 × median of the previous block of ``window`` changes (the first block: its own)."""
    n = len(absd)
    out = np.full(n, np.nan)
    if n == 0:
        return out
    nblocks = -(-n // window)
    padded = np.full(nblocks * window, np.nan)
    padded[:n] = absd
    blocks = padded.reshape(nblocks, window)
    counts = np.sum(~np.isnan(blocks), axis=1)
    med = np.full(nblocks, np.nan)
    enough = counts >= max(min_periods, 1)
    med[enough] = np.nanmedian(blocks[enough], axis=1)
    prev = np.r_[med[:1], med[:-1]]  # block b uses block b-1; block 0 uses itself
    return 1.4826 * np.repeat(prev, window)[:n]


def history_scale(price: np.ndarray, high: np.ndarray | None, low: np.ndarray | None,
                  params: BadTickParams) -> float | None:
    """The scale a partition ended with (its last ``window`` records: trade prices, or bar
    closes with highs and lows), to carry into the next partition's warm-up; None when it
    has fewer than ``min_periods`` records."""
    price = np.asarray(price, dtype=np.float64)[-(params.window + 1):]
    absd = np.abs(np.diff(price))
    if len(absd) < max(params.min_periods, 1):
        return None
    if params.scale == "mad":
        return float(1.4826 * np.median(absd))
    if high is None or low is None:
        return float(absd.mean())
    h, lo = (np.asarray(a, dtype=np.float64)[-len(absd):] for a in (high, low))
    return float(np.mean(np.fmax(h, price[:-1]) - np.fmin(lo, price[:-1])))


def _scale(absd: np.ndarray, tr: np.ndarray | None, price: np.ndarray, tick: float | None,
           p: BadTickParams, prior_scale: float | None, asset_class: str | None) -> np.ndarray:
    if p.scale == "mad":
        s = _block_median_scale(absd, p.window, p.min_periods)
    else:
        base = tr if tr is not None else absd
        s = pd.Series(base).rolling(p.window, min_periods=p.min_periods).mean().shift(1).to_numpy()
    warm = np.isnan(s)  # fewer than min_periods records of its own so far
    if warm.any():
        default = np.abs(price) * p.warmup_scale_bps(asset_class) * 1e-4
        s = np.where(warm, default if prior_scale is None else np.fmax(default, prior_scale), s)
    floor = np.abs(price) * p.min_scale_bps * 1e-4
    if tick:
        floor = np.maximum(floor, p.min_scale_ticks * tick)
    return np.fmax(s, floor)  # fmax: NaN scale → floor


def _moves(price: np.ndarray, scale: np.ndarray, p: BadTickParams) -> dict[str, np.ndarray]:
    """Jump / spike flags over a price sequence (positions within the sequence)."""
    d = np.r_[np.nan, np.diff(price)]
    absd = np.abs(d)
    nxt = np.r_[d[1:], np.nan]
    with np.errstate(invalid="ignore"):
        spike = ((absd > p.k_spike * scale) & (np.abs(nxt) > p.k_spike * scale)
                 & (np.sign(d) == -np.sign(nxt)) & (np.abs(d + nxt) <= p.spike_revert * absd))
    returning = np.r_[False, spike[:-1]]
    with np.errstate(invalid="ignore"):
        jump = (absd > p.k_jump * scale) & ~spike & ~returning
        extreme = (absd > p.k_extreme * scale) & ~spike & ~returning
    return {"price_jump": jump, "price_jump_extreme": extreme, "isolated_spike": spike}


def _flat_runs(price: np.ndarray, ts: np.ndarray, volume: np.ndarray, p: BadTickParams) -> np.ndarray:
    n = len(price)
    if n == 0:
        return np.zeros(0, bool)
    new = np.r_[True, price[1:] != price[:-1]]
    starts = np.flatnonzero(new)
    run_id = np.cumsum(new) - 1
    length = np.diff(np.r_[starts, n])
    span = (np.maximum.reduceat(ts, starts) - np.minimum.reduceat(ts, starts)) / 1e6
    vol = np.add.reduceat(volume.astype(np.float64), starts)
    bad = (length >= p.flat_min_run) & (span >= p.flat_min_seconds) & (vol > 0)
    return bad[run_id]


def _sequence_flags(frame: pd.DataFrame, ts: np.ndarray, dup_cols: list[str]) -> dict[str, np.ndarray]:
    out_of_order = np.r_[False, ts[1:] < ts[:-1]] if len(ts) else np.zeros(0, bool)
    duplicate = np.zeros(len(ts), bool)
    same_ts = pd.Series(ts).duplicated(keep=False).to_numpy()  # cheap pre-filter: only these can repeat
    if same_ts.any():
        duplicate[same_ts] = frame.loc[same_ts, dup_cols].duplicated(keep="first").to_numpy()
    return {"out_of_order": out_of_order, "duplicate_record": duplicate}


def _finish(flags: dict[str, np.ndarray], p: BadTickParams) -> BadTicks:
    n = len(next(iter(flags.values())))
    penalty = np.zeros(n)
    for name, mask in flags.items():
        penalty += p.weights.get(name, 0.0) * mask
    extreme = np.zeros(n, bool)
    for name in EXTREME_FLAGS:
        extreme |= flags[name]
    return BadTicks({k: flags[k] for k in FLAG_NAMES}, extreme, np.clip(1.0 - penalty, 0.0, 1.0))


def _ts_us(frame: pd.DataFrame) -> np.ndarray:
    if not len(frame):
        return np.empty(0, np.int64)
    return frame["ts"].dt.as_unit("us").astype("int64").to_numpy()


def tick_flags(ticks: pd.DataFrame, tick_size: float | None, params: BadTickParams = TICK_PARAMS, *,
               prior_scale: float | None = None, asset_class: str | None = None) -> BadTicks:
    """Bad-tick flags of one instrument's ticks (in file order); ``prior_scale`` /
    ``asset_class``: the warm-up scale (module doc)."""
    n = len(ticks)
    ts = _ts_us(ticks)
    price = ticks["price"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        seq = np.flatnonzero((ticks["kind"].to_numpy() == "trade") & np.isfinite(price) & (price > 0))
    flags = {name: np.zeros(n, bool) for name in FLAG_NAMES}
    if len(seq):
        tp = price[seq]
        absd = np.abs(np.r_[np.nan, np.diff(tp)])
        scale = _scale(absd, None, tp, tick_size, params, prior_scale, asset_class)
        for name, mask in _moves(tp, scale, params).items():
            flags[name][seq] = mask
        flags["flat_price_with_volume"][seq] = _flat_runs(
            tp, ts[seq], ticks["size"].to_numpy()[seq], params)
    flags.update(_sequence_flags(ticks, ts, ["ts", "kind", "price", "size", "bid", "ask"]))
    return _finish(flags, params)


def bar_flags(bars: pd.DataFrame, tick_size: float | None, params: BadTickParams = BAR_PARAMS, *,
              prior_scale: float | None = None, asset_class: str | None = None) -> BadTicks:
    """Bad-tick flags of one instrument's bars (in file order); the sequence is the closes;
    ``prior_scale`` / ``asset_class``: the warm-up scale (module doc)."""
    n = len(bars)
    ts = _ts_us(bars)
    o, h, lo, c = (bars[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close"))
    with np.errstate(invalid="ignore"):
        seq = np.flatnonzero(np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)
                             & (o > 0) & (h > 0) & (lo > 0) & (c > 0))
    flags = {name: np.zeros(n, bool) for name in FLAG_NAMES}
    if len(seq):
        so, sh, sl, sc = o[seq], h[seq], lo[seq], c[seq]
        prev_c = np.r_[np.nan, sc[:-1]]
        tr = np.fmax(sh, prev_c) - np.fmin(sl, prev_c)
        absd = np.abs(sc - prev_c)
        scale = _scale(absd, tr, sc, tick_size, params, prior_scale, asset_class)
        moves = _moves(sc, scale, params)
        wick = np.maximum(sh - np.maximum(so, sc), np.minimum(so, sc) - sl)
        moves["isolated_spike"] = moves["isolated_spike"] | (wick > params.k_extreme * scale)
        for name, mask in moves.items():
            flags[name][seq] = mask
        flat = (so == sh) & (sh == sl) & (sl == sc)
        level = np.where(flat, sc, np.nan)  # NaN != NaN: non-flat bars break every run
        flags["flat_price_with_volume"][seq] = _flat_runs(
            level, ts[seq], bars["volume"].to_numpy()[seq], params)
    flags.update(_sequence_flags(bars, ts, ["ts", "open", "high", "low", "close", "volume"]))
    return _finish(flags, params)
