"""What every partition-level step returns (the assets turn it into metadata)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class StepResult:
    rows_in: int
    rows_out: int
    details: dict = field(default_factory=dict)
    preview: pd.DataFrame | None = None
    first_ts: pd.Timestamp | None = None
    last_ts: pd.Timestamp | None = None


def time_range(frame: pd.DataFrame) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    if frame.empty:
        return None, None
    return frame["ts"].min(), frame["ts"].max()
