"""The indicators asset: partition by partition equals one continuous computation."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from marketdata_assets.pipelines.features import build_indicators
from marketdata_assets.storage.warehouse import open_warehouse
from marketdata_assets.transforms.indicators import INDICATOR_COLUMNS, compute_indicators
from marketdata_assets_tests.defs.helpers import materialize_partition

DAYS = ["2024-03-07", "2024-03-08", "2024-03-11", "2024-03-12"]


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.mark.slow
def test_partition_indicators_equal_a_continuous_computation(instance, sample_dir, warehouse_url):
    for day in DAYS:
        assert materialize_partition(instance, sample_dir, warehouse_url, day, "ESH24").success
    with open_warehouse(warehouse_url) as wh:
        for day in DAYS:  # in any order: each partition warms up from the stored bars before it
            build_indicators(wh, "ESH24", pd.Timestamp(day).date(), "r")
        stored = wh.read("indicators", {"instrument": "ESH24", "origin": "sierra"}, order_by=("ts",))
        bars = wh.read("ohlc_bars", {"instrument": "ESH24", "origin": "sierra"}, order_by=("ts",))

    for tf in ("1m", "5m", "1h"):
        series = bars[bars["timeframe"] == tf].reset_index(drop=True)
        continuous = compute_indicators(series[["ts", "trading_date", "open", "high", "low", "close", "volume"]])
        ours = stored[stored["timeframe"] == tf].reset_index(drop=True)
        assert len(ours) == len(continuous) > 0
        assert (ours["ts"].to_numpy() == continuous["ts"].to_numpy()).all()
        for col in INDICATOR_COLUMNS:
            np.testing.assert_allclose(ours[col].to_numpy(float), continuous[col].to_numpy(float),
                                       rtol=1e-9, atol=1e-9, err_msg=f"{tf} {col}")
