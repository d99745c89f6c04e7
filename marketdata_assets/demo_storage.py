"""The storage-lifecycle part of ``make demo``: archive the oldest sample day of every
instrument through the ``cold_archive`` asset, then read across hot and cold."""

from __future__ import annotations

import pandas as pd

from marketdata_assets.storage.warehouse.schema import ARCHIVED_TABLES


def run_storage_demo(instance, res: dict, settings, parts: list[tuple[str, str]], run_config: dict) -> list[str]:
    """Prints what moved and a read that spans both; returns what failed (empty when fine)."""
    import dagster as dg

    from marketdata_assets.defs.partitions import key_for, with_partitions_start
    from marketdata_assets.defs.storage.assets import cold_archive
    from marketdata_assets.storage.archive import manifest, verify_archive
    from marketdata_assets.storage.query import read_bars
    from marketdata_assets.storage.warehouse import open_warehouse

    if not parts:
        return []
    oldest = min(d for d, _ in parts)
    instruments = sorted({i for d, i in parts if d == oldest})
    with open_warehouse(settings.warehouse_url) as wh:
        before = {t: wh.count(t) for t in ARCHIVED_TABLES}
    failures = []
    archive_asset = with_partitions_start([cold_archive], settings.partitions_start)
    for inst in instruments:
        result = dg.materialize(archive_asset, partition_key=key_for(oldest, inst), instance=instance,
                                resources=res, raise_on_error=False, run_config=run_config)
        if not result.success:
            failures.append(f"cold_archive {oldest}|{inst}: run {result.run_id}")
    with open_warehouse(settings.warehouse_url) as wh:
        after = {t: wh.count(t) for t in ARCHIVED_TABLES}
        files = manifest(wh)
        report = verify_archive(wh)
        inst = instruments[0]
        dates = sorted(d for d, i in parts if i == inst)
        bars = read_bars(wh, inst, pd.Timestamp(dates[0]) - pd.Timedelta(days=1),
                         pd.Timestamp(dates[-1]) + pd.Timedelta(days=1), timeframe="1h")
        hot = {t: wh.read_hot(t, {"instrument": inst}, columns=["trading_date"])["trading_date"].nunique()
               for t in ("ohlc_bars",)}
    cold_dates = set(files.loc[(files["instrument"] == inst) & (files["table_name"] == "ohlc_bars"), "trading_date"])
    per_day = bars.groupby("trading_date").size().rename("1h bars").reset_index()
    per_day["storage"] = per_day["trading_date"].map(lambda d: "cold (Parquet)" if d in cold_dates else "hot")
    summary = files.groupby("table_name").agg(files=("path", "size"), rows=("rows", "sum"), bytes=("bytes", "sum"))
    print(f"\ncold archive ({settings.archive_url}): oldest day {oldest} of {len(instruments)} instruments archived")
    print(summary.reset_index().to_string(index=False))
    print(f"archive verify: {report.checked} files, {len(report.missing)} missing, {len(report.corrupt)} corrupt")
    print(f"rows per table unchanged by archiving (hot + cold): {before == after}")
    print(f"\nread_bars({inst}, 1h) across hot and cold ({hot['ohlc_bars']} hot days in ohlc_bars):")
    print(per_day.to_string(index=False))
    if before != after:
        failures.append(f"row counts changed by archiving: {before} → {after}")
    if not report.ok or files.empty or "cold (Parquet)" not in set(per_day["storage"]):
        failures.append("archive not readable across hot and cold")
    return failures
