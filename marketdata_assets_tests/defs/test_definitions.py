"""What the Dagster UI shows: every asset described, owned, kinded and grouped; every sensor
and config field explained; the main table's row count, schema and a chart in the metadata."""

from __future__ import annotations

import base64
import re

import dagster as dg
import pytest

from marketdata_assets.definitions import build_defs
from marketdata_assets.defs.bars.assets import ohlc_bars
from marketdata_assets.defs.features.assets import indicators
from marketdata_assets.defs.partitions import instrument_partitions, key_for
from marketdata_assets.defs.quality.assets import validated_ticks
from marketdata_assets.defs.quality.checks import freshness_checks
from marketdata_assets.defs.reference.assets import reference_data
from marketdata_assets.defs.resources import FreshnessResource, SierraResource, WarehouseResource
from marketdata_assets.defs.sierra.assets import sierra_ticks
from marketdata_assets.defs.sierra.jobs import sierra_chain_job
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets.storage.warehouse.schema import table

DAY, INST = "2024-03-08", "ESH24"
PNG = re.compile(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)")


@pytest.fixture(scope="module")
def defs():
    return build_defs()


def test_every_asset_has_a_plain_description_an_owner_a_kind_and_a_group(defs):
    graph = defs.resolve_asset_graph()

    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        name = key.to_user_string()
        assert node.description and "``" not in node.description, name
        assert node.owners, name
        assert node.kinds, name
        assert node.group_name and node.group_name != "default", name


def test_every_sensor_and_job_says_what_it_does(defs):
    assert all(s.description for s in defs.sensors), [s.name for s in defs.sensors if not s.description]
    for name in ("sierra_chain", "sierra_depth_load", "provider_chain", "provider_bootstrap", "reference",
                 "catalog_daily", "projectx_bootstrap"):
        assert defs.resolve_job_def(name).description, name


def test_every_config_field_is_documented_for_the_launchpad(defs):
    fields = {}
    for asset in defs.assets:
        schema = asset.op.config_schema if isinstance(asset, dg.AssetsDefinition) else None
        if schema is not None and schema.as_field().config_type.kind.name == "STRICT_SHAPE":
            fields.update({f"{asset.op.name}.{k}": f.description
                           for k, f in schema.as_field().config_type.fields.items()})

    assert {"sierra_ticks.full_refresh", "validated_ticks.max_quarantined_share", "ohlc_bars.gap_min_missing_bars",
            "symbols.batch_size", "enriched_assets.time_budget_s"} <= set(fields)
    assert [k for k, d in fields.items() if not d] == []


@pytest.fixture(scope="module")
def chain_run(sample_dir, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('wh')}/wh.db"
    local = dg.Definitions(assets=[reference_data, sierra_ticks, validated_ticks, ohlc_bars, indicators],
                           jobs=[sierra_chain_job], asset_checks=[freshness_checks],
                           resources={"freshness": FreshnessResource(), "warehouse": WarehouseResource(url=url),
                                      "sierra": SierraResource(data_dir=str(sample_dir))})
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(instrument_partitions.name, [INST])
        result = local.resolve_job_def("sierra_chain").execute_in_process(
            instance=instance, partition_key=str(key_for(DAY, INST)),
            run_config={"ops": {"validated_ticks": {"config": {"great_expectations": False}}}})
        assert result.success
        meta = {e.asset_key.to_user_string(): e.materialization.metadata
                for e in result.get_asset_materialization_events()}
    with open_warehouse(url) as wh:
        counts = {t: wh.count(t, partition_scope(INST, DAY)) for t in ("raw_ticks", "ticks", "ohlc_bars", "indicators")}
    return meta, counts


@pytest.mark.parametrize(("asset", "main_table"), [("sierra_ticks", "raw_ticks"), ("validated_ticks", "ticks"),
                                                   ("ohlc_bars", "ohlc_bars"), ("indicators", "indicators")])
def test_each_asset_records_its_main_table_rows_and_schema(chain_run, asset, main_table):
    meta, counts = chain_run

    assert meta[asset]["dagster/table_name"].value == main_table
    assert meta[asset]["dagster/row_count"].value == counts[main_table] > 0
    schema = meta[asset]["dagster/column_schema"].schema
    assert [c.name for c in schema.columns] == table(main_table).names
    assert all(c.description for c in schema.columns)


def test_ohlc_bars_shows_a_candlestick_chart_counts_as_numbers_and_timestamps(chain_run):
    meta, _ = chain_run
    bars = meta["ohlc_bars"]

    png = base64.b64decode(PNG.search(bars["chart"].value).group(1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 300_000
    assert isinstance(bars["bars_per_timeframe/1m"], dg.IntMetadataValue) and bars["bars_per_timeframe/1d"].value == 1
    assert isinstance(bars["first_ts"], dg.TimestampMetadataValue)
    assert bars["first_ts"].value < bars["last_ts"].value
    assert all(c in bars["preview"].value.splitlines()[0] for c in ("open", "vwap", "run_id", "source"))


def test_indicators_shows_a_line_chart_and_a_preview_with_every_column(chain_run):
    meta, _ = chain_run
    ind = meta["indicators"]

    png = base64.b64decode(PNG.search(ind["chart"].value).group(1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 300_000
    header = ind["preview"].value.splitlines()[0]
    assert all(c in header for c in ("rsi_14", "stoch_d", "bb_lower", "vwap"))
    assert ind["per_timeframe/5m"].value > 0
