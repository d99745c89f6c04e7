"""Benchmark plumbing: a result row beside its physical limit, timing, the table printer."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass
class Result:
    name: str
    value: float
    unit: str
    limit_name: str
    limit_value: float
    ratio: float          # ours / limit for throughputs; limit / ours for durations (1.0 = at the limit)
    goal: str = ""
    detail: dict | None = None  # where the time went (results.json only, not the table)

    def as_dict(self) -> dict:
        return asdict(self)


def best_of(fn: Callable[[], object], repeat: int = 3, setup: Callable[[], object] | None = None) -> float:
    """Fastest wall time of ``repeat`` runs, in seconds (``setup`` runs untimed before each)."""
    best = float("inf")
    for _ in range(repeat):
        if setup:
            setup()
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def throughput(name: str, count: int, ours_s: float, limit_name: str, limit_s: float, unit: str,
               goal: str = "") -> Result:
    ours, limit = count / ours_s, count / limit_s
    return Result(name, round(ours, 1), unit, limit_name, round(limit, 1), round(ours / limit, 3), goal)


def table(rows: list[dict]) -> str:
    head = ["name", "value", "unit", "limit_name", "limit_value", "ratio", "goal"]
    data = [[str(r.get(h, "")) if not isinstance(r.get(h), float) else f"{r[h]:,.4g}" for h in head] for r in rows]
    widths = [max(len(h), *(len(d[i]) for d in data)) for i, h in enumerate(head)] if data else [len(h) for h in head]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths))] + [fmt.format(*d) for d in data])
