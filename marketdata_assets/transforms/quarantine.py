"""``quarantine`` rows: what a rejected row keeps of itself (stage, source, byte offset, raw
values as strict JSON, the ``;``-joined rules it failed). Pure: frames in, frames out.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import date

import numpy as np
import pandas as pd

TICK_VALUES = ["ts", "kind", "price", "size", "bid", "ask", "aggressor", "num_trades"]
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


def _json_texts(column: pd.Series) -> list[str]:
    """The JSON text of each value of ``column``, as ``json.dumps(_json_value(v))`` writes it,
    a column at a time: numbers through ``float.__repr__`` / ``str`` of the whole list,
    timestamps through ``isoformat``; any other column value by value."""
    kind = column.dtype.kind if isinstance(column.dtype, np.dtype) else "O"   # nullable types: value by value
    values = column.to_numpy()
    if kind in "iu":
        return list(map(str, values.tolist()))
    if kind == "b":
        return [json.dumps(v) for v in values.tolist()]
    if kind == "f":
        out = list(map(repr, values.astype(np.float64).tolist()))
        for i in np.flatnonzero(~np.isfinite(values)).tolist():
            out[i] = json.dumps(_json_value(float(values[i])))
        return out
    if isinstance(column.dtype, pd.DatetimeTZDtype) and str(column.dtype.tz) == "UTC":   # Timestamp.isoformat
        at = column.dt.tz_localize(None).to_numpy("datetime64[us]")
        whole = at.astype(np.int64) % 1_000_000 == 0
        text = np.where(whole, np.datetime_as_string(at, "s"), np.datetime_as_string(at, "us")).tolist()
        return ['"NaT"' if t == "NaT" else f'"{t}+00:00"' for t in text]
    return [json.dumps(None if v is pd.NA else _json_value(v), default=str) for v in column.astype(object).tolist()]


def json_objects(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """Each row's ``columns`` as a JSON object text, equal to ``json.dumps`` of the row's
    ``{column: _json_value(value)}`` (a test holds this), built column-wise: the quarantine
    of a file's worth of records costs a few µs a row, not a dict and a dumps call each."""
    if not columns or not len(frame):
        return ["{}"] * len(frame)
    parts = [[key + t for t in _json_texts(frame[c])] for c, key in ((c, json.dumps(c) + ": ") for c in columns)]
    return ["{" + ", ".join(row) + "}" for row in zip(*parts, strict=True)]


def quarantine_rows(rejected: pd.DataFrame, stage: str, instrument: str, trading_date: date | str,
                    run_id: str, value_columns: list[str]) -> pd.DataFrame:
    """``quarantine`` rows of the rejected candidates (``reason`` column from the routing)."""
    raw = json_objects(rejected, value_columns)
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
