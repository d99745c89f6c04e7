"""Provider bars through Dagster against the local fake provider server."""

from __future__ import annotations

import logging
from datetime import date

import dagster as dg
import pytest

from marketdata_assets.definitions import PROVIDER_ASSETS, build_defs
from marketdata_assets.defs.partitions import instrument_partitions, key_for
from marketdata_assets.defs.providers.resources import ProvidersResource
from marketdata_assets.defs.providers.sensors import evaluate
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.storage.warehouse import open_warehouse
from marketdata_assets.testkit.fakeproviders import FakeProviders

SECRET = "SECRET-KEY-123"
DAYS = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"]


@pytest.fixture
def fake(monkeypatch):
    with FakeProviders(port=0) as server:
        for k, v in server.settings_env().items():
            monkeypatch.setenv(k, v)
        for var in ("ALPHAVANTAGE_API_KEY", "TWELVEDATA_API_KEY", "POLYGON_API_KEY"):
            monkeypatch.setenv(var, SECRET)
        monkeypatch.setenv("MARKETDATA_HTTP_TIMEOUT_S", "0.5")
        monkeypatch.setenv("MARKETDATA_HTTP_MAX_ATTEMPTS", "2")
        monkeypatch.setenv("MARKETDATA_ALPHAVANTAGE_RATE_LIMIT", "1000")
        monkeypatch.setenv("MARKETDATA_TWELVEDATA_RATE_LIMIT", "1000")
        monkeypatch.setenv("MARKETDATA_POLYGON_RATE_LIMIT", "1000")
        yield server


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(instrument_partitions.name, ["AAPL"])
        yield inst


def resources(url):
    return {"warehouse": WarehouseResource(url=url), "sierra": SierraResource(), "providers": ProvidersResource()}


def run_backfill(instance, url, first, last, raise_on_error=True):
    job = build_defs().get_job_def("provider_bootstrap")
    return job.execute_in_process(
        instance=instance, resources=resources(url), raise_on_error=raise_on_error,
        tags={"dagster/asset_partition_range_start": str(key_for(first, "AAPL")),
              "dagster/asset_partition_range_end": str(key_for(last, "AAPL"))},
    )


def test_backfill_falls_back_past_429_and_timeout_to_the_third_provider(fake, instance, warehouse_url):
    fake.set_fault("yahoo", "429", retry_after=1)
    fake.set_fault("alphavantage", "timeout", delay_s=5)

    result = run_backfill(instance, warehouse_url, DAYS[0], DAYS[-1])

    assert result.success
    with open_warehouse(warehouse_url) as wh:
        raw = wh.read("raw_bars", {"instrument": "AAPL"})
    assert sorted(raw["trading_date"].unique()) == DAYS
    assert set(raw["provider"]) == {"twelvedata"}
    assert raw["request"].str.startswith("twelvedata GET /time_series").all()
    market = market_for_instrument("AAPL")
    for day, bars in raw.groupby("trading_date"):
        lo, hi = market.window_us(date.fromisoformat(day))
        us = bars["ts"].dt.as_unit("us").astype("int64")
        assert len(bars) > 300 and bars["ts"].is_unique
        assert ((us >= lo) & (us < hi)).all()
    yahoo_calls = len(fake.requests("yahoo"))
    assert 5 <= yahoo_calls < 2 * len(DAYS)   # the breaker opened after 5 failures and stopped the calls


def test_partition_no_provider_can_serve_fails_with_every_reason_and_no_secret(fake, instance, tmp_path, caplog):
    for p in ("yahoo", "alphavantage", "twelvedata", "polygon"):
        fake.set_fault(p, "500")
    caplog.set_level(logging.DEBUG)

    result = run_backfill(instance, f"sqlite:///{tmp_path}/wh.db", DAYS[0], DAYS[0], raise_on_error=False)

    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    for p in ("yahoo", "alphavantage", "twelvedata", "polygon"):
        assert p in message
    records = instance.get_records_for_run(result.run_id).records
    everything = message + caplog.text + "".join(str(r.event_log_entry) for r in records)
    assert SECRET not in everything


def test_symbol_map_table_answers_both_directions(tmp_path):
    url = f"sqlite:///{tmp_path}/wh.db"

    assert dg.materialize([PROVIDER_ASSETS[0]], resources=resources(url)).success

    with open_warehouse(url) as wh:
        nq = wh.query("SELECT generic FROM symbol_map WHERE kind = %(k)s AND symbol = %(s)s", {"k": "yahoo", "s": "NQ=F"})
        broker = wh.query("SELECT symbol FROM symbol_map WHERE generic = %(g)s AND kind = 'broker'", {"g": "NAS100"})
    assert nq["generic"].tolist() == ["NAS100"]
    assert broker["symbol"].tolist() == ["US100.e"]


class _Ctx:
    def __init__(self, cursor=None):
        self.cursor = cursor


def test_intraday_sensor_requests_todays_partition_only_while_the_market_is_open(monkeypatch):
    monkeypatch.setenv("MARKETDATA_PROVIDER_INSTRUMENTS", "AAPL,EURUSD")
    monkeypatch.setenv("MARKETDATA_PROVIDER_SENSOR_INTERVAL_S", "300")
    monday_1500_utc = 1_710_169_200.0        # 2024-03-11 15:00 UTC: NYSE and FX open
    saturday = 1_710_000_000.0               # 2024-03-09 16:00 UTC: both closed

    res = ProvidersResource(), SierraResource()              # unset fields: the environment's values
    open_ = evaluate(_Ctx(), *res, {"AAPL"}, monday_1500_utc)
    too_soon = evaluate(_Ctx(open_.cursor), *res, {"AAPL"}, monday_1500_utc + 60)
    closed = evaluate(_Ctx(), *res, {"AAPL"}, saturday)
    configured = evaluate(_Ctx(), ProvidersResource(instruments=["MSFT"]), SierraResource(), set(), monday_1500_utc)

    assert sorted(str(r.partition_key) for r in open_.run_requests) == ["2024-03-11|AAPL", "2024-03-11|EURUSD"]
    assert list(open_.dynamic_partitions_requests[0].partition_keys) == ["EURUSD"]
    assert isinstance(too_soon, dg.SkipReason)
    assert closed.run_requests == []
    assert [str(r.partition_key) for r in configured.run_requests] == ["2024-03-11|MSFT"]   # the resource wins


def test_closed_market_day_stores_nothing_even_when_a_provider_fails(fake, instance, tmp_path):
    fake.set_fault("yahoo", "429", retry_after=0)
    for p in ("alphavantage", "twelvedata", "polygon"):
        fake.set_fault(p, "empty")

    result = run_backfill(instance, f"sqlite:///{tmp_path}/wh.db", "2024-03-09", "2024-03-09")  # Saturday

    assert result.success
    with open_warehouse(f"sqlite:///{tmp_path}/wh.db") as wh:
        assert wh.count("raw_bars") == 0


def test_one_unservable_day_fails_on_its_own_and_the_served_days_are_materialized(fake, instance, warehouse_url):
    for p in ("yahoo", "alphavantage", "twelvedata", "polygon"):
        fake.set_fault(p, "empty", count=1)  # the first day (an open Monday): every provider answers "no data"

    result = run_backfill(instance, warehouse_url, DAYS[0], DAYS[2], raise_on_error=False)

    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert f"{DAYS[0]}|AAPL" in message and f"{DAYS[1]}|AAPL" not in message and f"{DAYS[2]}|AAPL" not in message
    key = dg.AssetKey("provider_bars")
    assert instance.get_materialized_partitions(key) == {f"{d}|AAPL" for d in DAYS[1:3]}
    records = instance.fetch_materializations(  # the events automation reads: one per served day
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[f"{d}|AAPL" for d in DAYS]), limit=10).records
    assert sorted(r.partition_key for r in records) == [f"{d}|AAPL" for d in DAYS[1:3]]
    for r in records:
        assert r.asset_materialization.metadata["provider"].value == "yahoo"
        assert r.asset_materialization.metadata["dagster/row_count"].value > 300
    with open_warehouse(warehouse_url) as wh:
        raw = wh.read("raw_bars", {"instrument": "AAPL"})
    assert sorted(raw["trading_date"].unique()) == DAYS[1:3]


def test_invalid_instrument_key_in_a_backfill_fails_on_its_own_and_the_valid_ones_are_materialized(
        fake, instance, warehouse_url):
    instance.add_dynamic_partitions(instrument_partitions.name, ["../x"])  # the UI's "Add a partition" allows it
    job = build_defs().get_job_def("provider_bootstrap")
    bad = dg.MultiPartitionKey({"date": DAYS[0], "instrument": "../x"})

    result = job.execute_in_process(
        instance=instance, resources=resources(warehouse_url), raise_on_error=False,
        tags={"dagster/asset_partition_range_start": str(key_for(DAYS[0], "AAPL")),
              "dagster/asset_partition_range_end": str(bad)})

    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert f"{DAYS[0]}|../x" in message and "AAPL" not in message
    assert instance.get_materialized_partitions(dg.AssetKey("provider_bars")) == {f"{DAYS[0]}|AAPL"}
    with open_warehouse(warehouse_url) as wh:
        assert sorted(wh.read("raw_bars", {"instrument": "AAPL"})["trading_date"].unique()) == [DAYS[0]]
        assert wh.query("SELECT count(*) AS n FROM raw_bars WHERE instrument <> 'AAPL'")["n"].iloc[0] == 0
