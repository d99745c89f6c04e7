"""The market-depth part of ``make demo``: sample ``.depth`` files → ``sierra_depth`` →
``book_snapshots`` for every trading date of the sample depth instruments, then a table of
snapshot counts and the results of the book checks (crossed book, agreement with the
``.scid`` quotes at the same instants)."""

from __future__ import annotations

import os


def write_demo_depth(data_dir) -> list:
    """Sample ``.depth`` files next to the sample ``.scid`` files (unless the data directory
    is the user's own, ``MARKETDATA_SIERRA_DATA_DIR``)."""
    if "MARKETDATA_SIERRA_DATA_DIR" in os.environ:
        return []
    from marketdata_assets.settings import depth_settings
    from marketdata_assets.testkit.depth_sample import write_sample_depth

    paths = write_sample_depth(data_dir, depth_settings().depth_dir)
    print(f"sample depth: {len(paths)} .depth files in {depth_settings().depth_dir}")
    return paths


def run_depth_demo(instance, resources: dict, partitions: list[tuple[str, str]], quiet: dict) -> tuple[bool, str]:
    """Materialize the depth assets for the partitions that have depth files; returns (True
    when every run succeeded and every check passed, the summary to print)."""
    import dagster as dg
    import pandas as pd

    from marketdata_assets.definitions import DEPTH_ASSETS, SIERRA_ASSETS
    from marketdata_assets.defs.partitions import key_for
    from marketdata_assets.settings import depth_settings
    from marketdata_assets.sources.sierra.depth_discovery import scan_depth_directory

    with_depth = {f.instrument for f in scan_depth_directory(depth_settings().depth_dir) if f.instrument}
    rows, ok = [], True
    for d, inst in partitions:
        if inst not in with_depth:
            continue
        result = dg.materialize([*SIERRA_ASSETS, *DEPTH_ASSETS], selection=["sierra_depth", "book_snapshots"],
                                partition_key=key_for(d, inst), instance=instance, resources=resources,
                                raise_on_error=False, run_config=quiet)
        meta = {e.asset_key.path[-1]: e.event_specific_data.materialization.metadata
                for e in result.get_asset_materialization_events()}
        checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
        ok &= result.success and all(c.passed for c in checks.values())
        book_meta = meta.get("book_snapshots", {})
        agreement = {k: _value(book_meta.get(f"quote_agreement/{k}")) for k in ("agreeing", "compared")}
        rows.append({"trading_date": d, "instrument": inst,
                     "depth_events": _value(meta.get("sierra_depth", {}).get("dagster/row_count")),
                     "snapshot_rows": _value(meta.get("book_snapshots", {}).get("dagster/row_count")),
                     "snapshot_instants": _value(meta.get("book_snapshots", {}).get("snapshot_instants")),
                     "not_crossed": _passed(checks.get("book_not_crossed")),
                     "quotes_agree": f"{agreement['agreeing'] or 0}/{agreement['compared'] or 0}",
                     "agree_check": _passed(checks.get("book_agrees_with_scid_quotes")),
                     "quarantine_check": _passed(checks.get("depth_quarantined_share"))})
    text = ("\nmarket depth: book snapshots and the consistency check against the .scid quotes:\n"
            + (pd.DataFrame(rows).to_string(index=False) if rows else "none"))
    return ok and bool(rows), text


def _value(entry):
    return None if entry is None else entry.value


def _passed(check) -> str:
    return "-" if check is None else ("passed" if check.passed else "FAILED")
