"""Asset metadata: one builder for every asset. The main table's ``dagster/table_name``,
``dagster/row_count`` and ``dagster/column_schema`` (from ``storage/warehouse/schema.py``,
which ``sql/`` matches), counts as numbers (plottable across materializations), first/last
timestamps as timestamps, and a short preview with every column."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from marketdata_assets.pipelines.steps import StepResult
from marketdata_assets.storage.warehouse.columns import column_doc
from marketdata_assets.storage.warehouse.schema import table

TYPE_NAMES = {"text": "text", "ts": "timestamp (UTC, µs)", "date": "date", "f8": "float8", "i8": "int8",
              "i2": "int2", "json": "json"}
# details whose values are counts by category: one number per category, not a JSON blob
COUNT_GROUPS = ("bars_per_timeframe", "bars_per_origin", "per_timeframe")


def column_schema(table_name: str) -> dg.TableSchema:
    tbl = table(table_name)
    return dg.TableSchema(columns=[dg.TableColumn(name, TYPE_NAMES[kind], description=column_doc(tbl.name, name))
                                   for name, kind in tbl.columns])


def table_metadata(table_name: str, rows: int) -> dict:
    """The main table of an asset: name, the rows of this partition (or the whole table), schema."""
    return {"dagster/table_name": table_name, "dagster/row_count": dg.MetadataValue.int(int(rows)),
            "dagster/column_schema": column_schema(table_name)}


def timestamp(ts) -> dg.MetadataValue:
    if ts is None or pd.isna(ts):
        return dg.MetadataValue.text("-")
    return dg.MetadataValue.timestamp(pd.Timestamp(ts).tz_localize("UTC") if pd.Timestamp(ts).tzinfo is None
                                      else pd.Timestamp(ts))


def preview_md(frame: pd.DataFrame | None, rows: int = 3) -> dg.MetadataValue:
    """The first ``rows`` rows with every column (fewer rows, nothing clipped)."""
    if frame is None or frame.empty:
        return dg.MetadataValue.md("_no rows_")
    return dg.MetadataValue.md(frame.head(rows).to_markdown(index=False))


def value(v) -> dg.MetadataValue:
    if isinstance(v, dg.MetadataValue):
        return v
    if isinstance(v, bool):
        return dg.MetadataValue.bool(v)
    if isinstance(v, int):
        return dg.MetadataValue.int(v)
    if isinstance(v, float):
        return dg.MetadataValue.float(v)
    if isinstance(v, dict | list):
        return dg.MetadataValue.json(v)
    if v is None:
        return dg.MetadataValue.text("n/a")
    return dg.MetadataValue.text(str(v))


def as_metadata(values: dict) -> dict:
    """Plain values → metadata; a count group becomes one number per category (``bars_per_timeframe/1m``)."""
    out = {}
    for k, v in values.items():
        if k in COUNT_GROUPS and isinstance(v, dict):
            out.update({f"{k}/{sub}": dg.MetadataValue.int(int(n)) for sub, n in v.items()})
        else:
            out[k] = value(v)
    return out


def step_metadata(result: StepResult, table_name: str | None = None, rows: int | None = None, **extra) -> dict:
    meta = {**(table_metadata(table_name, result.rows_out if rows is None else rows) if table_name else {}),
            "rows_in": dg.MetadataValue.int(int(result.rows_in)),
            "rows_out": dg.MetadataValue.int(int(result.rows_out)),
            "first_ts": timestamp(result.first_ts), "last_ts": timestamp(result.last_ts),
            "preview": preview_md(result.preview)}
    return {**meta, **as_metadata({**result.details, **extra})}
