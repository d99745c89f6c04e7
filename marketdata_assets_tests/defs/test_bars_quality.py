"""ohlc_bars per origin, provider bars through validated_bars, gaps and provenance."""

from __future__ import annotations

from datetime import date

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from marketdata_assets.defs.partitions import key_for
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets_tests.quality.helpers import BAR_INSTRUMENT, DAY, load_sample, partition

from .quality_support import evaluations, failing_rows, materialize, raw_from_bars, stored_checks, write_raw

REQUEST = "GET /v8/finance/chart/GC=F?interval=1m&period1=1709848800&period2=1709931600"
HOLIDAY = date(2024, 3, 29)   # Good Friday: CME closed


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture(scope="module")
def gc_bars(tmp_path_factory) -> pd.DataFrame:
    """The clean GC sample bars of DAY (1380 one-minute bars: 23 h of CME Globex)."""
    bars = partition(load_sample(tmp_path_factory.mktemp("sample"))[BAR_INSTRUMENT][2], DAY)
    return bars.assign(trading_date=str(DAY))


def provider_raw(bars: pd.DataFrame) -> pd.DataFrame:
    """``raw_bars`` as a provider asset writes them: 1m OHLCV with provider and request."""
    return pd.DataFrame({
        "instrument": BAR_INSTRUMENT, "trading_date": str(DAY), "ts": bars["ts"].array, "timeframe": "1m",
        **{c: bars[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume")},
        "provider": "yahoo", "request": REQUEST, "run_id": "provider-run",
    })


def test_provider_bars_are_validated_and_resampled_with_their_provenance(instance, gc_bars, warehouse_url):
    raw = provider_raw(gc_bars)
    raw.loc[100, "close"] = np.nan                       # Yahoo's null for a minute without data
    raw.loc[200, "high"] = raw.loc[200, "low"] - 0.5
    raw = pd.concat([raw, raw.iloc[[300]], raw.iloc[[400]].assign(timeframe="5m")], ignore_index=True)
    write_raw(warehouse_url, "raw_bars", raw, BAR_INSTRUMENT, DAY)

    result = materialize(instance, warehouse_url, DAY, BAR_INSTRUMENT, ["validated_bars", "ohlc_bars"])

    assert result.success
    checks = evaluations(result, "validated_bars")
    assert {n: failing_rows(checks[n]) for n in ("null_close", "price_not_finite_positive", "high_below_low",
                                                 "high_below_open_close", "duplicate_ts")} == \
        {"null_close": 1, "price_not_finite_positive": 1, "high_below_low": 1, "high_below_open_close": 1,
         "duplicate_ts": 1}
    assert checks["quarantined_share"].metadata["quarantined_by_rule"].data["timeframe_not_1m"] == 1
    assert {n for n, e in checks.items() if not e.passed} == {"ts_not_increasing", "bad_ticks"}
    assert stored_checks(instance, "validated_bars", DAY, BAR_INSTRUMENT).keys() == checks.keys()
    meta = result.asset_materializations_for_node("validated_bars")[0].metadata
    assert meta["reconciliation"].value == "raw 1382 = kept 1378 + quarantined 4"
    scope = partition_scope(BAR_INSTRUMENT, DAY)
    with open_warehouse(warehouse_url) as wh:
        base = wh.read("base_bars", {**scope, "origin": "provider"})
        q = wh.read("quarantine", {**scope, "stage": "validated_bars"}, order_by=("ts",))
        bars = wh.read("ohlc_bars", scope)
        gaps = wh.read("data_gaps", scope)
    assert len(base) == 1378 and set(base["source"]) == {f"yahoo {REQUEST}"}
    assert set(base["run_id"]) == {result.run_id} and base["ts"].is_unique
    assert len(q) == 4 and set(q["source"]) == {f"yahoo {REQUEST}"} and q["source_offset"].isna().all()
    assert '"close": null' in q["raw"].iloc[0] and '"provider": "yahoo"' in q["raw"].iloc[0]
    assert set(bars["origin"]) == {"provider"}
    assert bars.groupby("timeframe").size().to_dict() == {"1m": 1378, "5m": 276, "15m": 92, "1h": 23, "4h": 6,
                                                         "1d": 1}
    assert set(bars["source"]) == {f"yahoo {REQUEST}"} and bars["vwap"].isna().all()
    assert gaps.empty   # the two quarantined minutes are quiet minutes, not a gap
    assert result.asset_materializations_for_node("ohlc_bars")[0].metadata["quiet_minutes"].value == 2


def test_each_origin_replaces_only_its_own_bars(instance, gc_bars, warehouse_url):
    write_raw(warehouse_url, "raw_ticks", raw_from_bars(gc_bars), BAR_INSTRUMENT, DAY)
    write_raw(warehouse_url, "raw_bars", provider_raw(gc_bars.iloc[:600]), BAR_INSTRUMENT, DAY)

    for _ in range(2):
        assert materialize(instance, warehouse_url, DAY, BAR_INSTRUMENT,
                           ["validated_ticks", "validated_bars", "ohlc_bars"]).success

    scope = {**partition_scope(BAR_INSTRUMENT, DAY), "timeframe": "1m"}
    with open_warehouse(warehouse_url) as wh:
        assert wh.count("ohlc_bars", {**scope, "origin": "sierra"}) == 1380
        assert wh.count("ohlc_bars", {**scope, "origin": "provider"}) == 600
        write_raw(warehouse_url, "raw_bars", pd.DataFrame(), BAR_INSTRUMENT, DAY)   # provider data withdrawn
        assert materialize(instance, warehouse_url, DAY, BAR_INSTRUMENT, ["validated_bars", "ohlc_bars"]).success
        assert wh.count("ohlc_bars", {**scope, "origin": "sierra"}) == 1380
        assert wh.count("ohlc_bars", {**scope, "origin": "provider"}) == 0
        assert wh.count("base_bars", partition_scope(BAR_INSTRUMENT, DAY)) == 1380


def test_partition_without_provider_bars_writes_nothing_and_reports_zero(instance, warehouse_url):
    result = materialize(instance, warehouse_url, DAY, BAR_INSTRUMENT, ["validated_bars"])

    assert result.success
    meta = result.asset_materializations_for_node("validated_bars")[0].metadata
    assert (meta["rows_in"].value, meta["rows_out"].value, meta["quarantined"].value) == (0, 0, 0)
    checks = evaluations(result, "validated_bars")
    assert {n for n, e in checks.items() if not e.passed} == {"row_count"}
    assert checks["row_count"].severity == dg.AssetCheckSeverity.WARN
    with open_warehouse(warehouse_url) as wh:
        assert wh.count("base_bars") == 0 and wh.count("quarantine") == 0


def test_an_outage_is_a_gap_quiet_minutes_holidays_and_the_halt_are_not(instance, gc_bars, sample_dir,
                                                                         warehouse_url):
    chicago = gc_bars["ts"].dt.tz_convert("America/Chicago")
    outage = (chicago >= pd.Timestamp("2024-03-08 10:00", tz="America/Chicago")) & \
             (chicago < pd.Timestamp("2024-03-08 10:30", tz="America/Chicago"))
    write_raw(warehouse_url, "raw_ticks", raw_from_bars(gc_bars[~outage]), BAR_INSTRUMENT, DAY)

    result = materialize(instance, warehouse_url, DAY, BAR_INSTRUMENT, ["validated_ticks", "ohlc_bars"])

    assert result.success
    with open_warehouse(warehouse_url) as wh:
        gaps = wh.read("data_gaps", partition_scope(BAR_INSTRUMENT, DAY))
    assert gaps[["timeframe", "missing_bars"]].values.tolist() == [["1m", 30]]
    assert gaps["gap_start"].iloc[0] == pd.Timestamp("2024-03-08 16:00", tz="UTC")   # 10:00 CST
    assert gaps["gap_end"].iloc[0] == pd.Timestamp("2024-03-08 16:30", tz="UTC")
    assert gaps["run_id"].iloc[0] == result.run_id
    meta = result.asset_materializations_for_node("ohlc_bars")[0].metadata
    assert (meta["gap_count"].value, meta["gap_minutes"].value, meta["quiet_minutes"].value) == (1, 30, 30)

    tolerant = {"ops": {"ohlc_bars": {"config": {"gap_min_missing_bars": 31}}}}
    assert materialize(instance, warehouse_url, DAY, BAR_INSTRUMENT, ["ohlc_bars"], run_config=tolerant).success
    with open_warehouse(warehouse_url) as wh:
        assert wh.count("data_gaps") == 0                        # the partition's gap rows were replaced

    for day, inst in ((HOLIDAY, BAR_INSTRUMENT), (date(2024, 3, 8), "ESH24")):
        result = materialize(instance, warehouse_url, day, inst, ["sierra_ticks", "validated_ticks", "ohlc_bars"],
                             data_dir=sample_dir)
        assert result.success
        meta = result.asset_materializations_for_node("ohlc_bars")[0].metadata
        assert meta["gap_count"].value == 0
    assert meta["quiet_minutes"].value == 180          # thin sample: many quiet minutes, none ≥ 15 in a row
    assert materialize(instance, warehouse_url, date(2024, 3, 8), "ESH24", ["ohlc_bars"],
                       run_config={"ops": {"ohlc_bars": {"config": {"gap_min_missing_bars": 1}}}}).success
    with open_warehouse(warehouse_url) as wh:
        assert wh.count("data_gaps", partition_scope("ESH24", "2024-03-08")) == 148


def test_a_bar_traces_to_its_run_and_to_the_raw_records_of_its_window(instance, sample_dir, warehouse_url):
    day, inst = "2024-03-11", "ESH24"
    load = materialize(instance, warehouse_url, day, inst, ["sierra_ticks"], data_dir=sample_dir)
    build = materialize(instance, warehouse_url, day, inst, ["validated_ticks", "ohlc_bars"], data_dir=sample_dir)
    assert load.success and build.success
    scope = partition_scope(inst, day)
    with open_warehouse(warehouse_url) as wh:
        bars = wh.read("ohlc_bars", {**scope, "origin": "sierra"})
        for tf, width in (("1m", "1min"), ("1h", "1h")):
            bar = bars[bars["timeframe"] == tf].sort_values("num_trades").iloc[-1]
            record = instance.fetch_materializations(dg.AssetRecordsFilter(
                asset_key=dg.AssetKey("ohlc_bars"), asset_partitions=[str(key_for(day, inst))]), limit=1).records[0]
            assert bar["run_id"] == record.run_id == build.run_id
            window = {"lo": bar["ts"], "hi": bar["ts"] + pd.Timedelta(width), "src": bar["source"], "i": inst}
            raw = wh.query(
                "SELECT source_offset, total_volume, run_id FROM raw_ticks WHERE instrument = %(i)s "
                "AND source = %(src)s AND kind = 0 AND ts >= %(lo)s AND ts < %(hi)s ORDER BY source_offset",
                _params(wh, window))
            ticks = wh.query(
                "SELECT source_offset, run_id FROM ticks WHERE instrument = %(i)s AND source = %(src)s "
                "AND kind = 'trade' AND ts >= %(lo)s AND ts < %(hi)s ORDER BY source_offset", _params(wh, window))
            assert bar["source"] == str((sample_dir / f"{inst}.scid").resolve())
            assert len(raw) == bar["num_trades"] > 0 and raw["total_volume"].sum() == bar["volume"]
            assert raw["source_offset"].tolist() == ticks["source_offset"].tolist()
            assert set(raw["run_id"]) == {load.run_id} and set(ticks["run_id"]) == {build.run_id}


def _params(wh, window: dict) -> dict:
    """Timestamps as each backend stores them: timestamptz in PostgreSQL, Unix µs in SQLite."""
    if wh.dialect == "sqlite":
        return {**window, "lo": window["lo"].value // 1000, "hi": window["hi"].value // 1000}
    return {**window, "lo": window["lo"].to_pydatetime(), "hi": window["hi"].to_pydatetime()}
