"""Frame ↔ column arrays in the warehouse's canonical representation.

``ts`` → int64 Unix µs, ``date`` → int64 days since 1970-01-01, numbers → float64/int64,
``text``/``json`` → object arrays of ``str``. Each column comes with a null mask; a NaN in
a float column is stored as NULL (a NaN read from a file therefore shows as NULL in
``raw_ticks``, and is quarantined downstream).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from marketdata_assets.errors import StorageError
from marketdata_assets.storage.warehouse.schema import Table

EPOCH_DATE = np.datetime64("1970-01-01", "D")


@dataclass
class Column:
    name: str
    kind: str
    values: np.ndarray
    null: np.ndarray


def _ts_us(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_integer_dtype(series.dtype):
        return series.to_numpy(dtype=np.int64)
    s = pd.to_datetime(series, utc=True)
    return s.dt.as_unit("us").astype("int64").to_numpy() if len(s) else np.empty(0, dtype=np.int64)


def _days(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_integer_dtype(series.dtype):
        return series.to_numpy(dtype=np.int64)
    values = pd.to_datetime(series.astype("string") if series.dtype == object else series).to_numpy()
    return (values.astype("datetime64[D]") - EPOCH_DATE).astype(np.int64)


def prepare(tbl: Table, frame: pd.DataFrame, constants: dict | None = None) -> list[Column]:
    """Columns of ``tbl`` from ``frame`` (missing ones NULL; ``constants`` fill whole columns)."""
    n = len(frame)
    constants = constants or {}
    out = []
    for name, kind in tbl.columns:
        if name in constants:
            series = pd.Series([constants[name]] * n, dtype=object if kind in ("text", "json") else None)
        elif name in frame.columns:
            series = frame[name]
        else:
            out.append(Column(name, kind, np.zeros(n, dtype=object), np.ones(n, dtype=bool)))
            continue
        null = series.isna().to_numpy() if n else np.zeros(0, dtype=bool)
        if kind == "ts":
            values = _ts_us(series.fillna(0) if null.any() and pd.api.types.is_integer_dtype(series.dtype) else series)
            values = np.where(null, 0, values) if null.any() else values
        elif kind == "date":
            values = _days(series)
        elif kind == "f8":
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        elif kind in ("i8", "i2"):
            values = series.to_numpy(dtype=np.float64, na_value=0).astype(np.int64) if null.any() \
                else series.to_numpy(dtype=np.int64)
        elif kind == "json":
            values = np.array([v if isinstance(v, str) or v is None else json.dumps(v, default=str)
                               for v in series.tolist()], dtype=object)
        else:
            values = series.to_numpy(dtype=object)
            _refuse_separators(tbl.name, name, values)
        out.append(Column(name, kind, values, null))
    return out


def _refuse_separators(table_name: str, column: str, values: np.ndarray) -> None:
    """Text may not hold \\x1e or \\x1f: PostgreSQL reads use them as separator and NULL mark."""
    for value in pd.unique(values):
        if isinstance(value, str) and ("\x1e" in value or "\x1f" in value):
            raise StorageError(f"{table_name}.{column}: text contains a control character "
                               f"(\\x1e or \\x1f) the warehouse does not store: {value[:40]!r}")


def iso_dates(days: np.ndarray) -> np.ndarray:
    return (days.astype("timedelta64[D]") + EPOCH_DATE).astype(str)


def finish(tbl: Table, frame: pd.DataFrame) -> pd.DataFrame:
    """Typed read result: ``ts`` as ``datetime64[us, UTC]``, dates as ISO strings, numbers
    ``float64`` where NULLs make them so (on both backends)."""
    for name in frame.columns:
        kind = tbl.type_of(name) if name in dict(tbl.columns) else None
        if kind in ("f8", "i8", "i2") and frame[name].dtype == object:   # SQLite: a column of only NULLs
            frame[name] = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
        elif kind == "ts":
            frame[name] = pd.to_datetime(frame[name].astype("Int64"), unit="us", utc=True).dt.as_unit("us")
        elif kind == "date" and len(frame):
            present = frame[name].dropna()
            if len(present) and not isinstance(present.iloc[0], str):  # day numbers → ISO text
                days = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
                iso = np.full(len(days), None, dtype=object)
                ok = ~np.isnan(days)
                iso[ok] = iso_dates(days[ok].astype(np.int64))
                frame[name] = iso
    return frame
