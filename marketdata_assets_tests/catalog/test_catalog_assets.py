"""The catalog assets after the Sierra path on sample data, on SQLite and PostgreSQL: no
orphans, a report whose figures are the tables' own counts, and re-runs that change nothing."""

from __future__ import annotations

import json

import pandas as pd

from marketdata_assets.pipelines.catalog.symbols import utc
from marketdata_assets.storage.warehouse import open_warehouse
from marketdata_assets_tests.catalog.helpers import (
    CATALOG_TABLES,
    add_daily_bars,
    load_sample,
    materialize_catalog,
    scalar,
    snapshot,
)

ORPHANS_SQL = [f"SELECT COUNT(*) AS n FROM {t} WHERE instrument NOT IN (SELECT symbol FROM symbols) "  # noqa: S608
               "AND instrument NOT IN (SELECT alias FROM symbol_aliases)" for t in ("ticks", "ohlc_bars")]


def orphans(url: str) -> int:
    return int(sum(scalar(url, sql) for sql in ORPHANS_SQL))


def report_rows(url: str) -> pd.DataFrame:
    with open_warehouse(url) as wh:
        return wh.read("data_integrity_reports", order_by=("reported_at",))


def test_catalog_on_sample_data_leaves_no_orphans_and_reports_the_tables_own_counts(
        instance, sample_dir, warehouse_url, fake):
    load_sample(instance, sample_dir, warehouse_url)
    add_daily_bars(warehouse_url, ["esh24", "ESH24_FUT_CME"])  # other spellings of a sample instrument
    assert orphans(warehouse_url) > 0

    result = materialize_catalog(instance, warehouse_url)

    assert orphans(warehouse_url) == 0
    snap = snapshot(warehouse_url, ("symbols", "symbol_aliases", "enriched_assets"))
    assert list(snap["symbols"]["symbol"]) == ["ESH24", "EURUSD", "GCJ24", "NQH24"]
    assert dict(zip(snap["symbol_aliases"]["alias"], snap["symbol_aliases"]["symbol"], strict=True)) == {
        "ESH24_FUT_CME": "ESH24", "GCJ24_FUT_COMEX": "GCJ24", "NQH24-CME": "NQH24", "esh24": "ESH24"}
    es = snap["symbols"].set_index("symbol").loc["ESH24"]
    assert (es["root"], es["month_code"], es["expiry"], es["market"], es["venue"], es["active"]) == \
        ("ES", "H", "2024-03-15", "CME", "CME", 1)
    assert set(snap["enriched_assets"]["status"]) == {"not_applicable"}  # futures and FX only
    assert fake.requests() == []                                          # so no provider was asked
    symbols_meta = result.asset_materializations_for_node("symbols")[0].metadata
    assert symbols_meta["merged"].value == {"ESH24": ["ESH24", "ESH24_FUT_CME", "esh24"]}
    assert symbols_meta["orphan_records"].value == 0

    report = report_rows(warehouse_url).iloc[-1]
    kept = scalar(warehouse_url, "SELECT COUNT(*) FROM ticks") + scalar(warehouse_url, "SELECT COUNT(*) FROM base_bars")
    quarantined = scalar(warehouse_url, "SELECT COUNT(*) FROM quarantine")
    score = scalar(warehouse_url, "SELECT SUM(quality_score) FROM ticks") \
        + scalar(warehouse_url, "SELECT SUM(quality_score) FROM base_bars")
    instruments = scalar(warehouse_url, "SELECT COUNT(*) FROM (SELECT instrument FROM ticks UNION "
                                        "SELECT instrument FROM ohlc_bars) AS names")
    assert (report["kept_records"], report["quarantined_records"]) == (kept, quarantined) and kept > 0
    assert abs(report["quality"] - score / (kept + quarantined)) < 1e-12
    assert report["quarantined_share"] == quarantined / (kept + quarantined)
    assert (report["instruments"], report["instruments_with_symbol"], report["symbol_coverage"]) == \
        (instruments, instruments, 1.0)
    assert (report["symbols"], report["active_symbols"], report["orphan_records"]) == (4, 4, 0)
    assert report["enrichment_applicable"] == 0 and pd.isna(report["enrichment_coverage"])
    freshness = json.loads(report["freshness"])
    assert set(freshness) == {"ESH24", "EURUSD", "GCJ24_FUT_COMEX", "NQH24-CME", "esh24", "ESH24_FUT_CME"}
    with open_warehouse(warehouse_url) as wh:
        last = max(utc(wh.query(sql, {"i": "ESH24"})["t"]).iloc[0] for sql in (
            "SELECT MAX(ts) AS t FROM ticks WHERE instrument = %(i)s",
            "SELECT MAX(ts) AS t FROM ohlc_bars WHERE instrument = %(i)s"))
    assert pd.Timestamp(freshness["ESH24"]["last_ts"]) == last
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"quality_above_75pct": True, "symbol_coverage_above_90pct": True,
                      "enrichment_coverage_above_70pct": True, "no_orphan_records": True}
    assert report["status"] == "pass" and json.loads(report["failed_components"]) == {}


def test_rerunning_any_catalog_asset_changes_nothing(instance, sample_dir, warehouse_url, fake):
    load_sample(instance, sample_dir, warehouse_url, partitions=[("2024-03-11", "NQH24-CME")])
    add_daily_bars(warehouse_url, ["AAPL", "BTCUSDT", "nqh24"])
    materialize_catalog(instance, warehouse_url)
    before = snapshot(warehouse_url)
    first = report_rows(warehouse_url)
    fake.clear_requests()

    for asset in ("reference_data", "symbols", "enriched_assets", "data_integrity_report"):
        materialize_catalog(instance, warehouse_url, selection=[asset])
    materialize_catalog(instance, warehouse_url, selection=["reference_data"],
                        run_config={"ops": {"reference_data": {"config": {"overwrite_existing": True}}}})

    after = snapshot(warehouse_url)
    for table in CATALOG_TABLES:
        pd.testing.assert_frame_equal(before[table], after[table], obj=table)
    assert set(before["enriched_assets"]["status"]) == {"complete", "not_applicable"}
    assert fake.requests() == []  # complete, fresh entries are not fetched again
    reports = report_rows(warehouse_url)
    assert len(reports) == len(first) + 1  # one row per run, by design
    figures = [c for c in reports.columns if c not in ("run_id", "reported_at", "freshness")]
    pd.testing.assert_series_equal(reports[figures].iloc[0], reports[figures].iloc[1], check_names=False)
