"""Every read of the project sees archived partitions: the indicators' warm-up, the catalog's
spans and counts, and the integrity report give the same answers before and after archiving."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from marketdata_assets.pipelines.catalog.integrity import integrity_figures
from marketdata_assets.pipelines.catalog.symbols import market_data_spans
from marketdata_assets.pipelines.features import build_indicators
from marketdata_assets.storage.archive import archive_partition
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets_tests.defs.helpers import materialize_partition

DAYS = ["2024-03-07", "2024-03-08"]
NOW = pd.Timestamp("2024-03-09T00:00:00Z")


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.mark.slow
def test_project_reads_answer_the_same_after_the_older_day_is_archived(instance, sample_dir, warehouse_url,
                                                                       tmp_path):
    for day in DAYS:
        assert materialize_partition(instance, sample_dir, warehouse_url, day, "ESH24").success
    with open_warehouse(warehouse_url) as wh:
        build_indicators(wh, "ESH24", pd.Timestamp(DAYS[0]).date(), "r")
        build_indicators(wh, "ESH24", pd.Timestamp(DAYS[1]).date(), "r")
        hot_indicators = wh.read("indicators", partition_scope("ESH24", DAYS[1]), order_by=("timeframe", "ts"))
        hot_spans, hot_figures = market_data_spans(wh), integrity_figures(wh, NOW, frozenset())

        archived = archive_partition(wh, str(tmp_path / "archive"), "ESH24", DAYS[0])
        build_indicators(wh, "ESH24", pd.Timestamp(DAYS[1]).date(), "r")   # warm-up now reads cold bars

        assert {a.table for a in archived} >= {"ticks", "ohlc_bars", "raw_ticks", "indicators"}
        assert wh.read_hot("ohlc_bars", partition_scope("ESH24", DAYS[0])).empty
        pd.testing.assert_frame_equal(
            wh.read("indicators", partition_scope("ESH24", DAYS[1]), order_by=("timeframe", "ts")), hot_indicators)
        pd.testing.assert_frame_equal(market_data_spans(wh), hot_spans)
        assert integrity_figures(wh, NOW, frozenset()) == hot_figures
