"""Bar-by-bar indicators for the streaming path, equal to the batch (TA-Lib) values.

Why: the sidecar publishes indicators on every bar close and cannot re-run TA-Lib over
the history each time. :class:`IncrementalIndicators` does O(1) work per bar (fixed
periods) and repeats TA-Lib's C algorithms (as shipped in the ``ta-lib`` 0.8 wheel,
default compatibility, unstable period 0) operation by operation, so its values match
:func:`~marketdata_assets.transforms.indicators.compute_indicators` - bit for bit for
RSI, SMA, EMA, MACD line, BBANDS and STOCH; within a last-bit rounding for the MACD
signal and ATR, where the wheel's C compiler fuses ``a*b + c`` into one FMA that
Python cannot express - and is NaN on exactly the same warm-up bars. Quirks kept:

- EMA: k = 2/(n+1), seeded with sum/n of the first n values (first value at bar n-1).
- MACD: the fast EMA is seeded at bar ``slow-1`` with the mean of the ``fast`` closes
  ending there (not at bar ``fast-1``); the signal EMA is seeded with the mean of the
  first ``signal`` MACD values; all three outputs start at bar ``slow+signal-2``.
- RSI: Wilder averages seeded with the first n changes, scaled by a precomputed 1/n;
  first value at bar n; 0.0 (not 50) when no change at all was seen.
- ATR: true range from bar 1, seed sum(TR[1..n])/n at bar n, then alpha*tr + beta*atr
  with beta = (n-1)/n, alpha = 1-beta.
- BBANDS: SMA middle band (running sum); population variance from shifted running sums
  re-anchored on the window mean every 32*n bars or on cancellation (see ``_Bands``).
- STOCH: fast %K = (close-lowest)/(highest-lowest)*100, 0.0 when the range is within
  1e-14 of the price scale; SMA smoothings; outputs start at bar fastk+slowk+slowd-3.

State is plain JSON (numbers, lists, strings, None) so a process can persist it and
resume exactly where it stopped.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from marketdata_assets.errors import SchemaMismatch
from marketdata_assets.transforms.indicators import (
    DEFAULT_PARAMS,
    PRICE_COLUMNS,
    IndicatorParams,
    indicator_columns,
    validate_bars,
)

STATE_VERSION = 1
_NAN = float("nan")


class _Part:
    """A piece of indicator state; ``state()``/``load()`` map its slots to JSON values."""

    __slots__ = ()
    _deques: tuple[str, ...] = ()

    def state(self) -> dict[str, Any]:
        return {
            name: [list(e) if isinstance(e, tuple) else e for e in value] if name in self._deques else value
            for name in self.__slots__
            for value in (getattr(self, name),)
        }

    def load(self, state: Mapping[str, Any]) -> None:
        for name in self.__slots__:
            value = state[name]
            if name in self._deques:
                value = deque(tuple(e) if isinstance(e, list) else e for e in value)
            setattr(self, name, value)


class _Sma(_Part):
    """TA-Lib TA_INT_SMA: total += x; out = total/n; total -= oldest."""

    __slots__ = ("n", "total", "window")
    _deques = ("window",)

    def __init__(self, n: int):
        self.n, self.total, self.window = n, 0.0, deque()

    def update(self, x: float) -> float | None:
        self.total += x
        self.window.append(x)
        if len(self.window) < self.n:
            return None
        out = self.total / self.n
        self.total -= self.window.popleft()
        return out


class _Ema(_Part):
    """TA-Lib TA_INT_EMA; seeded at value number ``seed_at`` with the mean of the last n values."""

    __slots__ = ("n", "k", "seed_at", "count", "window", "value")
    _deques = ("window",)

    def __init__(self, n: int, seed_at: int | None = None):
        self.n, self.k, self.seed_at = n, 2.0 / (n + 1), seed_at or n
        self.count, self.window, self.value = 0, deque(), None

    def update(self, x: float) -> float | None:
        if self.value is not None:
            self.value = (x - self.value) * self.k + self.value
            return self.value
        self.count += 1
        self.window.append(x)
        if len(self.window) > self.n:
            self.window.popleft()
        if self.count == self.seed_at:
            self.value = sum(self.window, 0.0) / self.n  # left to right, like TA-Lib's loop
            self.window.clear()
        return self.value


class _Rsi(_Part):
    """TA-Lib RSI (Wilder): first value at bar n; scales by a hoisted 1/n, as TA-Lib >= 0.8 does."""

    __slots__ = ("n", "inv", "count", "prev", "gain", "loss")

    def __init__(self, n: int):
        self.n, self.inv, self.count, self.prev, self.gain, self.loss = n, 1.0 / n, 0, None, 0.0, 0.0

    def update(self, x: float) -> float | None:
        prev, self.prev = self.prev, x
        if prev is None:
            return None
        change = x - prev
        self.count += 1
        if self.count > self.n:
            self.loss *= self.n - 1
            self.gain *= self.n - 1
        if change < 0.0:
            self.loss -= change
        else:
            self.gain += change
        if self.count < self.n:
            return None
        self.loss *= self.inv
        self.gain *= self.inv
        total = self.gain + self.loss
        return 100.0 * (self.gain / total) if total > 0.0 else 0.0


class _Atr(_Part):
    """TA-Lib ATR: TR from bar 1; seed = sum(TR[1..n])/n at bar n; then alpha*tr + beta*atr."""

    __slots__ = ("n", "beta", "alpha", "count", "prev_close", "seed", "value")

    def __init__(self, n: int):
        self.n, self.beta = n, (n - 1) / n
        self.alpha = 1.0 - self.beta  # derived from beta so alpha + beta == 1 exactly, like TA-Lib
        self.count, self.prev_close, self.seed, self.value = 0, None, 0.0, None

    def update(self, high: float, low: float, close: float) -> float | None:
        prev_close, self.prev_close = self.prev_close, close
        if prev_close is None:
            return None
        tr = max(high - low, abs(prev_close - high), abs(prev_close - low))
        if self.value is not None:
            self.value = self.alpha * tr + self.beta * self.value
            return self.value
        self.count += 1
        self.seed += tr
        if self.count == self.n:
            self.value = self.seed / self.n
        return self.value


class _Bands(_Part):
    """TA-Lib BBANDS (SMA): running-sum mean + shifted-sum population variance with reseeding.

    The variance sums deviations from a ``shift`` near the window so they never subtract
    two ~price^2 numbers; TA-Lib re-anchors the shift on the window mean (a fresh
    two-pass over the window, O(n)) every 32*n bars, when the variance falls below 1e-6
    of the mean squared deviation, or when an outlier leaves the window.
    """

    __slots__ = ("n", "inv", "window", "total", "shift", "sum1", "sum2", "countdown")
    _deques = ("window",)

    def __init__(self, n: int):
        self.n, self.inv, self.window, self.total = n, 1.0 / n, deque(), 0.0
        self.shift, self.sum1, self.sum2, self.countdown = None, 0.0, 0.0, 32 * n

    def update(self, x: float) -> tuple[float, float] | None:
        if self.shift is None:
            self.shift = x
        self.window.append(x)
        self.total += x
        dev = x - self.shift
        self.sum1 += dev
        self.sum2 += dev * dev
        if len(self.window) < self.n:
            return None
        mean = self.total / self.n
        m1 = self.sum1 * self.inv
        variance = self.sum2 * self.inv - m1 * m1
        oldest = self.window.popleft()
        self.total -= oldest
        dev = oldest - self.shift
        self.sum1 -= dev
        dev *= dev
        self.sum2 -= dev
        self.countdown -= 1
        if variance < 1e-6 * (self.sum2 * self.inv) or dev > 1e6 * self.sum2 or self.countdown <= 0:
            variance = self._reseed(oldest)
        return mean, (math.sqrt(variance) if variance != 0.0 else 0.0)

    def _reseed(self, oldest: float) -> float:
        self.countdown = 32 * self.n
        values = (oldest, *self.window)
        self.shift = sum(values, 0.0) * self.inv
        self.sum1 = self.sum2 = 0.0
        for v in values:
            dev = v - self.shift
            self.sum1 += dev
            self.sum2 += dev * dev
        m1 = self.sum1 * self.inv
        variance = self.sum2 * self.inv - m1 * m1
        if variance < 1e-12 * (self.sum2 * self.inv):
            variance = 0.0  # spread below the rounding of the mean itself: a flat window
        dev = oldest - self.shift
        self.sum1 -= dev
        self.sum2 -= dev * dev
        return variance


class _Range(_Part):
    """Highest high / lowest low of the last n bars via monotonic deques (O(1) amortized)."""

    __slots__ = ("n", "index", "highs", "lows")
    _deques = ("highs", "lows")

    def __init__(self, n: int):
        self.n, self.index, self.highs, self.lows = n, -1, deque(), deque()

    def update(self, high: float, low: float) -> tuple[float, float] | None:
        self.index += 1
        highs, lows = self.highs, self.lows
        while highs and highs[-1][1] <= high:
            highs.pop()
        highs.append((self.index, high))
        while lows and lows[-1][1] >= low:
            lows.pop()
        lows.append((self.index, low))
        oldest = self.index - self.n + 1
        while highs[0][0] < oldest:
            highs.popleft()
        while lows[0][0] < oldest:
            lows.popleft()
        return (highs[0][1], lows[0][1]) if oldest >= 0 else None


class _Vwap(_Part):
    """Session-anchored VWAP; resets when the trading date changes."""

    __slots__ = ("session", "pv", "volume")

    def __init__(self) -> None:
        self.session, self.pv, self.volume = None, 0.0, 0.0

    def update(self, session: str, high: float, low: float, close: float, volume: float) -> float:
        if session != self.session:
            self.session, self.pv, self.volume = session, 0.0, 0.0
        self.pv += (high + low + close) / 3.0 * volume
        self.volume += volume
        return self.pv / self.volume if self.volume > 0.0 else _NAN


def _session_key(value: Any) -> str:
    """A trading date (date, datetime, numpy datetime64 or 'YYYY-MM-DD' string) as a string."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    if isinstance(value, np.datetime64):
        return str(value.astype("datetime64[D]"))
    raise SchemaMismatch(f"trading_date must be a date or string, got {type(value).__name__}")


def _nan(value: float | None) -> float:
    return _NAN if value is None else value


class IncrementalIndicators:
    """Streaming twin of ``compute_indicators``: one ``update`` per closed bar, O(1) each."""

    def __init__(self, params: IndicatorParams = DEFAULT_PARAMS):
        p = self.params = params
        self.columns = indicator_columns(params)
        self._last_ts: int | None = None
        self._parts: dict[str, _Part] = {
            "rsi": _Rsi(p.rsi_period),
            **{f"ema_{n}": _Ema(n) for n in p.ema_periods},
            **{f"sma_{n}": _Sma(n) for n in p.sma_periods},
            "macd_fast": _Ema(p.macd_fast, seed_at=p.macd_slow),
            "macd_slow": _Ema(p.macd_slow),
            "macd_signal": _Ema(p.macd_signal),
            "bbands": _Bands(p.bb_period),
            "atr": _Atr(p.atr_period),
            "vwap": _Vwap(),
            "stoch_range": _Range(p.stoch_fastk),
            "stoch_k": _Sma(p.stoch_slowk),
            "stoch_d": _Sma(p.stoch_slowd),
        }

    def update(self, bar: Mapping[str, Any]) -> dict[str, float]:
        """Feed one closed bar (ts, open, high, low, close, volume, trading_date); get its values.

        Raises SchemaMismatch (state untouched) on a missing field, a non-finite price or
        a ts not after the previous bar's - a replayed or out-of-order bar would
        otherwise corrupt every recursive indicator silently.
        """
        try:
            values = [float(bar[c]) for c in PRICE_COLUMNS]
            ts, trading_date = pd.Timestamp(bar["ts"]).value, bar["trading_date"]
        except KeyError as exc:
            raise SchemaMismatch(f"bar lacks field {exc.args[0]!r}") from exc
        if not all(math.isfinite(v) for v in values):
            raise SchemaMismatch(f"bar at {bar['ts']} has non-finite values {values}")
        _, high, low, close, volume = values
        return self._step(ts, high, low, close, volume, _session_key(trading_date))

    def _step(self, ts: int, high: float, low: float, close: float, volume: float, session: str) -> dict[str, float]:
        if self._last_ts is not None and ts <= self._last_ts:
            raise SchemaMismatch(f"bar ts {pd.Timestamp(ts, tz='UTC')} is not after the last one")
        self._last_ts = ts
        p, parts = self.params, self._parts
        out = {f"rsi_{p.rsi_period}": _nan(parts["rsi"].update(close))}
        for n in p.ema_periods:
            out[f"ema_{n}"] = _nan(parts[f"ema_{n}"].update(close))
        for n in p.sma_periods:
            out[f"sma_{n}"] = _nan(parts[f"sma_{n}"].update(close))

        slow, fast = parts["macd_slow"].update(close), parts["macd_fast"].update(close)
        signal = parts["macd_signal"].update(fast - slow) if slow is not None else None
        if signal is None:
            out["macd"] = out["macd_signal"] = out["macd_hist"] = _NAN
        else:
            macd = fast - slow
            out["macd"], out["macd_signal"], out["macd_hist"] = macd, signal, macd - signal

        bands = parts["bbands"].update(close)
        if bands is None:
            out["bb_upper"] = out["bb_middle"] = out["bb_lower"] = _NAN
        else:
            mean, std = bands
            out["bb_upper"], out["bb_middle"], out["bb_lower"] = (
                mean + std * p.bb_nbdev_up, mean, mean - std * p.bb_nbdev_dn
            )

        out[f"atr_{p.atr_period}"] = _nan(parts["atr"].update(high, low, close))
        out["vwap"] = parts["vwap"].update(session, high, low, close, volume)

        extremes = parts["stoch_range"].update(high, low)
        slow_k = slow_d = None
        if extremes is not None:
            highest, lowest = extremes
            spread = highest - lowest
            flat = abs(spread) <= 1e-14 * (abs(highest) + abs(lowest))
            slow_k = parts["stoch_k"].update(0.0 if flat else (close - lowest) / spread * 100.0)
            slow_d = parts["stoch_d"].update(slow_k) if slow_k is not None else None
        out["stoch_k"], out["stoch_d"] = (slow_k, slow_d) if slow_d is not None else (_NAN, _NAN)
        return out

    def process_frame(self, bars: pd.DataFrame) -> pd.DataFrame:
        """Update with every row of ``bars`` in order; returns the frame ``compute_indicators`` would."""
        validate_bars(bars)
        ts = pd.DatetimeIndex(bars["ts"]).as_unit("ns").asi8
        cols = [bars[c].to_numpy(dtype=np.float64) for c in ("high", "low", "close", "volume")]
        sessions = [_session_key(v) for v in bars["trading_date"].tolist()]
        rows = [self._step(int(t), *hlcv, s) for t, *hlcv, s in zip(ts, *cols, sessions, strict=True)]
        frame = pd.DataFrame.from_records(rows, columns=list(self.columns), index=bars.index)
        frame = frame.astype(np.float64)
        frame.insert(0, "ts", bars["ts"])
        return frame

    def warm(self, bars: pd.DataFrame) -> None:
        """Bring the state up to the end of ``bars`` (e.g. previous partitions), discarding values."""
        self.process_frame(bars)

    def state_dict(self) -> dict[str, Any]:
        """JSON-serializable snapshot (params included) for :meth:`from_state`."""
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self.params).items()}
        return {
            "version": STATE_VERSION,
            "params": params,
            "last_ts": self._last_ts,
            "parts": {name: part.state() for name, part in self._parts.items()},
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> IncrementalIndicators:
        """Rebuild an engine from :meth:`state_dict` output; continues exactly where it stopped."""
        if state.get("version") != STATE_VERSION:
            raise SchemaMismatch(f"indicator state version {state.get('version')!r} != {STATE_VERSION}")
        try:
            engine = cls(IndicatorParams(**state["params"]))
            if set(state["parts"]) != set(engine._parts):
                raise SchemaMismatch("indicator state parts do not match its params")
            engine._last_ts = state["last_ts"]
            for name, part in engine._parts.items():
                part.load(state["parts"][name])
        except (KeyError, TypeError) as exc:
            raise SchemaMismatch(f"malformed indicator state: {exc!r}") from exc
        return engine
