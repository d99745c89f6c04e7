"""The cold side of the warehouse's reads: manifest look-ups and Parquet partitions as frames.

A partition of an archived table (``schema.ARCHIVED_TABLES``) is hot (rows in the table) or
cold (an ``archive_manifest`` row naming a verified Parquet file), never both. Reads take
the manifest rows and the hot rows in one snapshot, read the cold files (only the columns
and row groups asked for) and return the union in the types a hot read has; with
``order_by`` the union is sorted (stably) exactly as the hot table would sort it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketdata_assets.storage import archive_files
from marketdata_assets.storage.warehouse.schema import ARCHIVED_TABLES, Table, check_columns

PARTITION_KEYS = ("instrument", "trading_date")


def is_archived(table_name: str) -> bool:
    return table_name in ARCHIVED_TABLES


def manifest_scope(table_name: str, scope: dict) -> dict:
    return {"table_name": table_name, **{k: scope[k] for k in PARTITION_KEYS if k in scope}}


def extra_scope(scope: dict) -> dict:
    """Conditions of ``scope`` the manifest cannot answer (applied inside the files)."""
    return {k: v for k, v in scope.items() if k not in PARTITION_KEYS}


def read_files(tbl: Table, entries: pd.DataFrame, scope: dict, columns: list[str] | None,
               int16: bool) -> list[pd.DataFrame]:
    """One frame per cold partition in ``entries`` (already in trading-date order)."""
    cols = check_columns(tbl, columns or tbl.names)
    extra = extra_scope(scope)
    check_columns(tbl, extra)
    filters = [(k, "==", v) for k, v in extra.items()]
    frames = []
    for path in entries["path"]:
        arrow = archive_files.read_columns(path, cols, filters)
        frame = archive_files.to_frame(tbl, arrow, int16)
        for c in cols:
            if c not in frame.columns:
                frame[c] = None
        frames.append(frame[cols])
    return frames


def merge(hot: pd.DataFrame, cold: list[pd.DataFrame], order_by: tuple[str, ...]) -> pd.DataFrame:
    """Cold partitions then hot rows; sorted stably by ``order_by`` when given."""
    parts = [f for f in (*cold, hot) if len(f)]
    if not parts:
        return hot
    frame = parts[0].reset_index(drop=True) if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    if order_by and len(parts) > 1:
        keys = [frame[c].to_numpy() for c in reversed(order_by)]
        frame = frame.iloc[np.lexsort(keys)].reset_index(drop=True)
    return frame


def cold_count(tbl: Table, entries: pd.DataFrame, scope: dict) -> int:
    if entries.empty:
        return 0
    extra = extra_scope(scope)
    if not extra:
        return int(entries["rows"].sum())
    return sum(len(f) for f in read_files(tbl, entries, scope, [next(iter(extra))], False))


def cold_partition_counts(tbl: Table, entries: pd.DataFrame, scope: dict) -> pd.DataFrame:
    """(instrument, trading_date, n) of the cold partitions in ``entries``."""
    if entries.empty:
        return pd.DataFrame({"instrument": [], "trading_date": [], "n": []})
    if not extra_scope(scope):
        return entries[["instrument", "trading_date", "rows"]].rename(columns={"rows": "n"})
    counts = [len(f) for f in read_files(tbl, entries, scope, ["trading_date"], False)]
    return entries[["instrument", "trading_date"]].assign(n=counts)


def cold_spans(entries: pd.DataFrame) -> pd.DataFrame:
    """(instrument, n, first_ts, last_ts) of the cold partitions, from the manifest alone."""
    return entries.groupby("instrument", as_index=False).agg(
        n=("rows", "sum"), first_ts=("min_ts", "min"), last_ts=("max_ts", "max"))


def cold_total(tbl: Table, entries: pd.DataFrame, column: str) -> tuple[int, float]:
    """(rows, sum of ``column`` over non-NULL values) of the cold partitions."""
    n, total = 0, 0.0
    for frame in read_files(tbl, entries, {}, [column], False):
        n += len(frame)
        total += float(np.nansum(frame[column].to_numpy(dtype=np.float64, na_value=np.nan)))
    return n, total
