"""``make demo``: the Sierra path end to end on the embedded default (SQLite, sample data).

Generates sample ``.scid`` files (unless ``MARKETDATA_SIERRA_DATA_DIR`` is set), registers
their instruments as partitions in a SQLite ``DAGSTER_HOME`` under ``var/``, materializes
every asset of the Sierra path for every partition found in the files, and prints a
summary. Exit status 0 only when every run succeeded and every partition reconciles
(raw = kept + quarantined).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

DAGSTER_YAML = """# Written by `marketdata demo` / `make dev`: local SQLite storage under this directory.
telemetry:
  enabled: false
nux:
  enabled: false
"""


def prepare_dagster_home(var_dir: Path) -> Path:
    home = (var_dir / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def partitions_in(data_dir: Path, market_of) -> list[tuple[str, str]]:
    from marketdata_assets.sources.sierra.discovery import scan_directory, trading_dates_in

    out = []
    for f in scan_directory(data_dir):
        if f.instrument is None:
            print(f"skipping {f.path}: {f.error}")
            continue
        out += [(d, f.instrument) for d in trading_dates_in(f.path, market_of(f.instrument))]
    return out


def summary(wh) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(rows per asset and timeframe, reconciliation and quality score per partition,
    quarantined rows per stage and rule) from the warehouse."""
    counts = []
    for asset, table in (("sierra_ticks", "raw_ticks"), ("validated_ticks", "ticks"),
                         ("validated_ticks", "base_bars"), ("validated_ticks", "quarantine")):
        counts.append({"asset": asset, "table": table, "timeframe": "", "rows": wh.count(table)})
    by_tf = wh.query("SELECT timeframe, COUNT(*) AS n FROM ohlc_bars GROUP BY timeframe")
    order = {tf: i for i, tf in enumerate(("1m", "5m", "15m", "1h", "4h", "1d"))}
    for tf, n in sorted(by_tf.itertuples(index=False), key=lambda r: order.get(r[0], 9)):
        counts.append({"asset": "ohlc_bars", "table": "ohlc_bars", "timeframe": tf, "rows": int(n)})
    recon = wh.query(
        "SELECT r.instrument, r.trading_date, r.n AS raw, "
        "COALESCE(t.n, 0) + COALESCE(b.n, 0) AS kept, COALESCE(q.n, 0) AS quarantined, "
        "COALESCE(t.s, 0) + COALESCE(b.s, 0) AS score_sum "
        "FROM (SELECT instrument, trading_date, COUNT(*) AS n FROM raw_ticks GROUP BY 1, 2) r "
        "LEFT JOIN (SELECT instrument, trading_date, COUNT(*) AS n, SUM(quality_score) AS s FROM ticks "
        "           GROUP BY 1, 2) t "
        "  ON t.instrument = r.instrument AND t.trading_date = r.trading_date "
        "LEFT JOIN (SELECT instrument, trading_date, COUNT(*) AS n, SUM(quality_score) AS s FROM base_bars "
        "           WHERE origin = 'sierra' GROUP BY 1, 2) b "
        "  ON b.instrument = r.instrument AND b.trading_date = r.trading_date "
        "LEFT JOIN (SELECT instrument, trading_date, COUNT(*) AS n FROM quarantine "
        "           WHERE stage = 'validated_ticks' GROUP BY 1, 2) q "
        "  ON q.instrument = r.instrument AND q.trading_date = r.trading_date "
        "ORDER BY 1, 2")
    recon["reconciled"] = recon["raw"] == recon["kept"] + recon["quarantined"]
    # partition quality score: Σ kept quality_score / raw rows (a quarantined row counts 0)
    recon["score"] = (recon.pop("score_sum").astype(float) / recon["raw"]).round(6)
    return pd.DataFrame(counts), recon, quarantined_by_rule(wh)


def quarantined_by_rule(wh) -> pd.DataFrame:
    """Quarantined rows per stage and rule (a row failing two rules counts for both)."""
    from marketdata_assets.pipelines.quality import reason_counts

    by_reason = wh.query("SELECT stage, reason, COUNT(*) AS n FROM quarantine GROUP BY stage, reason")
    rows = []
    for stage, part in by_reason.groupby("stage"):
        reasons = part["reason"].repeat(part["n"].astype(int))
        rows += [{"stage": stage, "rule": rule, "rows": n} for rule, n in reason_counts(reasons).items()]
    out = pd.DataFrame(rows, columns=["stage", "rule", "rows"])
    return out.sort_values(["rows", "stage", "rule"], ascending=[False, True, True], ignore_index=True)


def run_demo() -> int:
    from marketdata_assets.settings import get_settings

    settings = get_settings()
    prepare_dagster_home(settings.var_dir)
    data_dir = settings.sierra_data_dir
    if "MARKETDATA_SIERRA_DATA_DIR" not in os.environ:
        from marketdata_assets.sources.sierra.sample import write_sample_data

        paths = write_sample_data(data_dir)
        print(f"sample data: {len(paths)} .scid files in {data_dir}")

    import dagster as dg

    from marketdata_assets.definitions import FEATURE_ASSETS, SIERRA_ASSETS, resources
    from marketdata_assets.defs.partitions import instrument_partitions, key_for
    from marketdata_assets.demo_providers import DEMO_INSTRUMENTS, run_provider_demo
    from marketdata_assets.model.sessions import market_for_instrument
    from marketdata_assets.storage.warehouse import open_warehouse

    parts = partitions_in(data_dir, lambda i: market_for_instrument(i, settings.instrument_markets))
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(instrument_partitions.name, sorted({i for _, i in parts}))
    res = resources()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    failed = 0
    ref = dg.materialize([SIERRA_ASSETS[0]], instance=instance, resources=res, raise_on_error=False,
                         run_config=quiet)
    failed += not ref.success
    for d, inst in parts:
        result = dg.materialize([*SIERRA_ASSETS, *FEATURE_ASSETS],
                                selection=["sierra_ticks", "validated_ticks", "ohlc_bars", "indicators"],
                                partition_key=key_for(d, inst), instance=instance, resources=res,
                                raise_on_error=False, run_config=quiet)
        if not result.success:
            failed += 1
            print(f"FAILED {d}|{inst}: run {result.run_id}")
    dates = sorted({d for d, _ in parts})
    provider_failures = run_provider_demo(instance, res, dates, quiet) if dates else []
    for what in provider_failures:
        print(f"FAILED provider path: {what}")
    with open_warehouse(settings.warehouse_url) as wh:
        counts, recon, rules = summary(wh)
        served = wh.query("SELECT instrument, provider, COUNT(*) AS bars FROM raw_bars "
                          "GROUP BY instrument, provider ORDER BY instrument, provider")
        indicator_rows = wh.count("indicators")
        report = wh.query("SELECT status, quality, symbol_coverage, enrichment_coverage, orphan_records, "
                          "failed_components FROM data_integrity_reports ORDER BY reported_at DESC LIMIT 1")
    print(f"\nwarehouse: {settings.warehouse_url}   dagster home: {os.environ['DAGSTER_HOME']}")
    print(f"partitions materialized: {len(parts) - failed} of {len(parts)}\n")
    print(counts.to_string(index=False))
    print("\nquarantined rows per rule:")
    print(rules.to_string(index=False) if len(rules) else "none")
    print("\nreconciliation (raw = kept + quarantined) and quality score "
          "(Σ kept quality_score / raw) per partition:")
    print(recon.to_string(index=False))
    print(f"\nindicators: {indicator_rows} rows")
    print(f"\nprovider bars ({', '.join(DEMO_INSTRUMENTS)}) against the local fake providers, Yahoo answering "
          "HTTP 429 so the fallback serves:")
    print(served.to_string(index=False) if len(served) else "none")
    print("\ndata integrity report (catalog job):")
    print(report.to_string(index=False) if len(report) else "none")
    from marketdata_assets.demo_storage import run_storage_demo

    storage_failures = run_storage_demo(instance, res, settings, parts, quiet)
    for what in storage_failures:
        print(f"FAILED storage lifecycle: {what}")
    ok = (failed == 0 and not provider_failures and not storage_failures and bool(recon["reconciled"].all()) and len(recon) == len(parts)
          and len(served) > 0 and indicator_rows > 0)
    print("\nOK" if ok else "\nFAILED")
    return 0 if ok else 1
