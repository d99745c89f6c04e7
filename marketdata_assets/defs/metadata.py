"""Asset metadata helpers: counts, time range and a small preview of every step."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from marketdata_assets.pipelines.sierra import StepResult


def preview_md(frame: pd.DataFrame | None, rows: int = 5) -> dg.MetadataValue:
    if frame is None or frame.empty:
        return dg.MetadataValue.md("_no rows_")
    head = frame.head(rows)
    cols = [c for c in head.columns if c not in ("run_id", "source")][:10]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in head[cols].iterrows():
        lines.append("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def step_metadata(result: StepResult, **extra) -> dict:
    meta = {
        "rows_in": dg.MetadataValue.int(int(result.rows_in)),
        "rows_out": dg.MetadataValue.int(int(result.rows_out)),
        "first_ts": dg.MetadataValue.text(str(result.first_ts) if result.first_ts is not None else "-"),
        "last_ts": dg.MetadataValue.text(str(result.last_ts) if result.last_ts is not None else "-"),
        "preview": preview_md(result.preview),
    }
    for k, v in {**result.details, **extra}.items():
        if isinstance(v, bool):
            meta[k] = dg.MetadataValue.bool(v)
        elif isinstance(v, int):
            meta[k] = dg.MetadataValue.int(v)
        elif isinstance(v, dict):
            meta[k] = dg.MetadataValue.json(v)
        else:
            meta[k] = dg.MetadataValue.text(str(v))
    return meta
