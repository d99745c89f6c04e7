"""``make demo``: the Sierra path end to end on the embedded default (SQLite, sample data).

Generates sample ``.scid`` files (unless ``MARKETDATA_SIERRA_DATA_DIR`` is set), registers
their instruments as partitions in a SQLite ``DAGSTER_HOME`` under ``var/``, materializes
every asset of the Sierra path for every partition found in the files, and prints a
summary. Exit status 0 only when every run succeeded and every partition reconciles
(raw = kept + quarantined).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pandas as pd

from marketdata_assets.settings import Settings
from marketdata_assets.transforms.partition_dates import DateRange

DAGSTER_YAML = """# Written by `marketdata demo` / `make dev`: local SQLite storage under this directory.
telemetry:
  enabled: false
nux:
  enabled: false
# a laptop, not a cluster: the directory sensor's first tick queues a run per sample partition
run_queue:
  max_concurrent_runs: 2
"""


def prepare_dagster_home(var_dir: Path) -> Path:
    home = (var_dir / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def run_job(defs, name: str, instance, asset_selection=None, checks=(), **kwargs):
    """Execute the named job of ``defs`` in process; the run records the job as its target. With
    ``asset_selection`` only those assets and the ``checks`` named run (not every check on them)."""
    job = defs.resolve_job_def(name)
    if asset_selection is not None:
        job = job.get_subset(asset_selection=set(asset_selection), asset_check_selection=set(checks))
    return job.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET, **kwargs)


def partitions_in(data_dir: Path, market_of, dates: DateRange) -> list[tuple[str, str]]:
    """(trading date, instrument) of every partition the files hold inside ``dates``; records
    outside them are reported here and quarantined by the partition that answers for them."""
    from marketdata_assets.pipelines.sierra.ticks import file_dates
    from marketdata_assets.sources.sierra.discovery import scan_directory

    out = []
    for f in scan_directory(data_dir):
        if f.instrument is None:
            print(f"skipping {f.path}: {f.error}")
            continue
        found = file_dates(f.path, market_of(f.instrument), dates)
        if found.out_of_range:
            print(f"{f.path}: {found.out_of_range} records outside the partitions {dates.first}..{dates.last} "
                  "(quarantined as timestamp_out_of_range)")
        out += [(d, f.instrument) for d in found.dates]
    return out


def demo_settings(settings: Settings) -> Settings:
    """On the sample data, the date partitions start at its first date (unless
    ``MARKETDATA_PARTITIONS_START`` says otherwise), so the UI shows a mostly filled space."""
    from marketdata_assets.testkit.sierra_sample import SAMPLE_DATES

    if "MARKETDATA_SIERRA_DATA_DIR" in os.environ or os.environ.get("MARKETDATA_PARTITIONS_START"):
        return settings
    return dataclasses.replace(settings, partitions_start=SAMPLE_DATES[0].isoformat())


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
    from marketdata_assets.transforms.quarantine import reason_counts

    by_reason = wh.query("SELECT stage, reason, COUNT(*) AS n FROM quarantine GROUP BY stage, reason")
    rows = []
    for stage, part in by_reason.groupby("stage"):
        reasons = part["reason"].repeat(part["n"].astype(int))
        rows += [{"stage": stage, "rule": rule, "rows": n} for rule, n in reason_counts(reasons).items()]
    out = pd.DataFrame(rows, columns=["stage", "rule", "rows"])
    return out.sort_values(["rows", "stage", "rule"], ascending=[False, True, True], ignore_index=True)


def run_demo() -> int:
    from marketdata_assets.settings import get_settings

    settings = demo_settings(get_settings())
    prepare_dagster_home(settings.var_dir)
    from marketdata_assets.demo_live import start_live_demo

    live = start_live_demo(settings.var_dir)  # the sidecar's provider loop, beside everything below
    data_dir = settings.sierra_data_dir
    if "MARKETDATA_SIERRA_DATA_DIR" not in os.environ:
        from marketdata_assets.testkit.sierra_sample import write_sample_data

        paths = write_sample_data(data_dir)
        print(f"sample data: {len(paths)} .scid files in {data_dir}")
    from marketdata_assets.demo_depth import run_depth_demo, write_demo_depth

    write_demo_depth(data_dir)

    import dagster as dg

    from marketdata_assets.definitions import build_defs, resources
    from marketdata_assets.defs.partitions import (
        build_market_partitions,
        date_range,
        instrument_partitions,
        key_for,
    )
    from marketdata_assets.defs.sierra.jobs import SIERRA_CHAIN_CHECK_KEYS, SIERRA_CHAIN_KEYS
    from marketdata_assets.demo_providers import DEMO_INSTRUMENTS, run_provider_demo
    from marketdata_assets.model.sessions import market_for_instrument
    from marketdata_assets.storage.warehouse import open_warehouse

    defs = build_defs(settings)  # the partitions start at the demo's MARKETDATA_PARTITIONS_START
    res, quiet = resources(settings), QUIET
    dates = date_range(build_market_partitions(settings.partitions_start))
    print(f"date partitions: {dates.first} to {dates.last} (MARKETDATA_PARTITIONS_START)")
    parts = partitions_in(data_dir, lambda i: market_for_instrument(i, settings.instrument_markets), dates)
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(instrument_partitions.name, sorted({i for _, i in parts}))
    failed = 0
    # named jobs (README "Automation and jobs"): every run shows its target and can be re-executed
    ref = run_job(defs, "reference", instance, asset_selection=[dg.AssetKey("reference_data")])
    failed += not ref.success
    for d, inst in parts:
        result = run_job(defs, "sierra_chain", instance, partition_key=str(key_for(d, inst)),
                         asset_selection=SIERRA_CHAIN_KEYS, checks=SIERRA_CHAIN_CHECK_KEYS)
        if not result.success:
            failed += 1
            print(f"FAILED {d}|{inst}: run {result.run_id}")
    depth_ok, depth_summary = run_depth_demo(instance, res, parts, quiet)
    dates = sorted({d for d, _ in parts})
    provider_failures = run_provider_demo(instance, dates, defs) if dates else []
    for what in provider_failures:
        print(f"FAILED provider path: {what}")
    from marketdata_assets.demo_projectx import (
        DEMO_FIRST,
        DEMO_INSTRUMENT,
        DEMO_LAST,
        run_live_demo,
        run_projectx_demo,
    )

    projectx_failures, projectx_figures = run_projectx_demo(instance, res, quiet)
    live_failures, live_figures = run_live_demo(instance, res, quiet) if not projectx_failures else ([], {})
    projectx_failures += live_failures
    for what in projectx_failures:
        print(f"FAILED ProjectX path: {what}")
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
    print(depth_summary)
    print(f"\nprovider bars ({', '.join(DEMO_INSTRUMENTS)}) against the local fake providers, Yahoo answering "
          "HTTP 429 so the fallback serves:")
    print(served.to_string(index=False) if len(served) else "none")
    print(f"\nProjectX backfill {DEMO_FIRST}..{DEMO_LAST} {DEMO_INSTRUMENT} against the local fake gateway "
          "(20,000 bars per call, paged):")
    print("  ".join(f"{k}: {v}" for k, v in projectx_figures.items()) or "none")
    print("ProjectX live session through the sidecar (one hub drop, one stall), live_ticks replayed:")
    print("  ".join(f"{k}: {v}" for k, v in live_figures.items()) or "none")
    print("\ndata integrity report (catalog job):")
    print(report.to_string(index=False) if len(report) else "none")
    from marketdata_assets.demo_storage import run_storage_demo

    storage_failures = run_storage_demo(instance, res, settings, parts, quiet)
    for what in storage_failures:
        print(f"FAILED storage lifecycle: {what}")
    live_ok = live.finish()
    live_partitions = 1 if "live_ticks rows" in live_figures else 0  # the live session's journal replay
    ok = (live_ok and failed == 0 and not provider_failures and not projectx_failures and not storage_failures
          and bool(recon["reconciled"].all()) and len(recon) == len(parts) + live_partitions
          and len(served) > 0 and indicator_rows > 0 and depth_ok)
    print("\nOK" if ok else "\nFAILED")
    return 0 if ok else 1
