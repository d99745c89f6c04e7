"""Bar timeframes. ``1d`` is the session bar; the others are fixed durations counted from
the session open, so bars never shift or duplicate across a DST change."""

from __future__ import annotations

TIMEFRAMES: tuple[str, ...] = ("1m", "5m", "15m", "1h", "4h", "1d")
TIMEFRAME_US: dict[str, int] = {
    "1m": 60_000_000,
    "5m": 300_000_000,
    "15m": 900_000_000,
    "1h": 3_600_000_000,
    "4h": 14_400_000_000,
}


def check_timeframe(tf: str) -> str:
    if tf not in TIMEFRAMES:
        raise ValueError(f"unknown timeframe {tf!r}; expected one of {TIMEFRAMES}")
    return tf
