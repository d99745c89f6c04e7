"""``projectx_bars`` through Dagster against the fake gateway, on every warehouse backend."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from marketdata_assets.definitions import build_defs
from marketdata_assets.defs.bars.assets import ohlc_bars
from marketdata_assets.defs.features.assets import indicators
from marketdata_assets.defs.partitions import instrument_partitions, key_for
from marketdata_assets.defs.projectx.resources import ProjectXResource
from marketdata_assets.defs.providers.assets import symbol_map
from marketdata_assets.defs.providers.resources import ProvidersResource
from marketdata_assets.defs.quality.assets import validated_bars
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.pipelines.projectx import plan_backfill, spans
from marketdata_assets.storage.warehouse import open_warehouse
from marketdata_assets.testkit.fakegateway import catalog, market

from .conftest import API_KEY

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
FIRST, LAST = "2024-10-07", "2024-11-01"  # four weeks: ~27,600 CME minutes, two pages


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(instrument_partitions.name, ["ESZ24"])
        yield inst


def _resources(url):
    return {"warehouse": WarehouseResource(url=url), "sierra": SierraResource(), "projectx": ProjectXResource(),
            "providers": ProvidersResource()}


def _backfill(instance, url, first=FIRST, last=LAST, instrument="ESZ24"):
    return build_defs().resolve_job_def("projectx_bootstrap").execute_in_process(
        instance=instance, resources=_resources(url), run_config=QUIET, raise_on_error=False,
        tags={"dagster/asset_partition_range_start": str(key_for(first, instrument)),
              "dagster/asset_partition_range_end": str(key_for(last, instrument))})


def _expected_per_day(first: str, last: str) -> dict[str, int]:
    cme = market_for_instrument("ESZ24")
    out, d = {}, date.fromisoformat(first)
    while d <= date.fromisoformat(last):
        lo, hi = cme.window_us(d)
        bars = market.minutes(catalog.CONTRACTS["CON.F.US.EP.Z24"], datetime.fromtimestamp(lo / 1e6, UTC),
                              datetime.fromtimestamp(hi / 1e6, UTC))
        out[str(d)] = len(bars)
        d += timedelta(days=1)
    return out


def test_backfill_pages_across_the_cap_in_as_few_calls_as_it_allows(gateway, projectx_env, instance, warehouse_url):
    projectx_env(gateway)
    result = _backfill(instance, warehouse_url)
    expected = _expected_per_day(FIRST, LAST)
    with open_warehouse(warehouse_url) as wh:
        got = wh.query("SELECT trading_date, COUNT(*) AS n, COUNT(DISTINCT ts) AS u FROM raw_bars "
                       "WHERE provider = 'projectx' GROUP BY trading_date")
        requests = wh.query("SELECT DISTINCT request FROM raw_bars")["request"].tolist()
        contract = wh.read("projectx_contracts", {"instrument": "ESZ24"})
    got = {str(d)[:10]: (int(n), int(u)) for d, n, u in got.itertuples(index=False)}
    total = sum(expected.values())
    materialization = result.asset_materializations_for_node("projectx_bars")[0]
    assert result.success
    assert total > 20_000
    assert len(gateway.requests("retrieveBars")) == 2 == -(-total // 19_999)
    assert {d: n for d, (n, _) in got.items()} == {d: n for d, n in expected.items() if n}
    assert all(n == u for n, u in got.values())  # no duplicate at the page join
    assert all("retrieveBars" in r and API_KEY not in r for r in requests)
    assert contract[["contract_id", "name", "tick_size", "tick_value"]].iloc[0].tolist() == \
        ["CON.F.US.EP.Z24", "ESZ4", 0.25, 12.5]
    assert materialization.metadata["dagster/row_count"].value == total
    assert materialization.metadata["retrieve_bars_calls"].value == 2


def test_rerun_replaces_and_contracts_survive_the_symbol_map_refresh(gateway, projectx_env, instance, warehouse_url):
    projectx_env(gateway)
    assert _backfill(instance, warehouse_url, "2024-11-04", "2024-11-05").success
    assert _backfill(instance, warehouse_url, "2024-11-04", "2024-11-05").success
    refresh = dg.materialize([symbol_map], instance=instance, resources=_resources(warehouse_url), run_config=QUIET)
    with open_warehouse(warehouse_url) as wh:
        rows = wh.count("raw_bars", {"instrument": "ESZ24"})
        contracts = wh.count("projectx_contracts")
    expected = _expected_per_day("2024-11-04", "2024-11-05")
    assert refresh.success
    assert rows == sum(expected.values())
    assert contracts == 1


def test_projectx_bars_flow_through_validation_bars_and_indicators(gateway, projectx_env, instance, warehouse_url):
    projectx_env(gateway)
    assert _backfill(instance, warehouse_url, "2024-11-05", "2024-11-05").success
    chain = dg.materialize([validated_bars, ohlc_bars, indicators], instance=instance,
                           partition_key=key_for("2024-11-05", "ESZ24"), resources=_resources(warehouse_url),
                           run_config=QUIET)
    with open_warehouse(warehouse_url) as wh:
        raw = wh.count("raw_bars", {"instrument": "ESZ24", "trading_date": "2024-11-05"})
        kept = wh.count("base_bars", {"instrument": "ESZ24", "origin": "provider"})
        quarantined = wh.count("quarantine", {"instrument": "ESZ24", "stage": "validated_bars"})
        one_minute = wh.count("ohlc_bars", {"instrument": "ESZ24", "timeframe": "1m", "origin": "provider"})
        daily = wh.read("ohlc_bars", {"instrument": "ESZ24", "timeframe": "1d"})
        indicator_rows = wh.count("indicators", {"instrument": "ESZ24"})
        source = wh.query("SELECT DISTINCT source FROM base_bars WHERE instrument = 'ESZ24'")["source"].tolist()
    assert chain.success
    assert raw > 1000 and kept + quarantined == raw and quarantined == 0
    assert one_minute == kept and len(daily) == 1 and indicator_rows > 0
    assert source and all(s.startswith("projectx ") and "POST /api/History/retrieveBars" in s for s in source)


def test_a_gateway_that_refuses_fails_the_run_naming_the_instrument(gateway, projectx_env, instance, warehouse_url):
    projectx_env(gateway, MARKETDATA_PROJECTX_API_KEY="invalid-key")
    result = _backfill(instance, warehouse_url, "2024-11-04", "2024-11-04")
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert not result.success
    assert "ESZ24" in failure.step_failure_data.error.message and "errorCode 3" in failure.step_failure_data.error.message


def test_the_plan_counts_calls_and_time_of_a_90_day_bootstrap():
    cme = market_for_instrument("ESZ24")
    days = [date(2024, 8, 1) + timedelta(days=i) for i in range(90)]
    plan = plan_backfill("ESZ24", cme, days)
    assert spans(days) == [(days[0], days[-1])]
    assert 5 <= plan.calls <= 7  # ~64 trading days × 1380 minutes / 20,000
    assert "about" in plan.describe() and plan.seconds >= plan.calls * 0.5
