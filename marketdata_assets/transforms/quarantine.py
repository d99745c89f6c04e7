"""``quarantine`` rows: what a rejected row keeps of itself (stage, source, byte offset, raw
values as strict JSON, the ``;``-joined rules it failed). Pure: frames in, frames out.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import date

import numpy as np
import pandas as pd

TICK_VALUES = ["ts", "kind", "price", "size", "bid", "ask", "side", "num_trades"]
BAR_VALUES = ["ts", "open", "high", "low", "close", "volume", "num_trades"]
PROVIDER_BAR_VALUES = ["ts", "timeframe", "open", "high", "low", "close", "volume", "provider", "request"]


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


def quarantine_rows(rejected: pd.DataFrame, stage: str, instrument: str, trading_date: date | str,
                    run_id: str, value_columns: list[str]) -> pd.DataFrame:
    """``quarantine`` rows of the rejected candidates (``reason`` column from the routing)."""
    raw = [{k: _json_value(v) for k, v in row.items()}
           for row in rejected[value_columns].astype(object).to_dict(orient="records")]
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
