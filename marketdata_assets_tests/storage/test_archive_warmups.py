"""The bad-tick warm-ups of ``validated_ticks`` and ``validated_bars`` read the previous
partition wherever it lives: archived, it gives the same scale as it did hot."""

from __future__ import annotations

import numpy as np

from marketdata_assets.pipelines.quality import bar_warmup, tick_warmup, validate, validate_provider_bars
from marketdata_assets.pipelines.sierra.ticks import load_raw
from marketdata_assets.storage.archive import archive_partition
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets.testkit.sierra_sample import write_scid
from marketdata_assets.transforms.quality import DEFAULT_PARAMS
from marketdata_assets_tests.quality.test_opening_bars import MARKET as MSFT_MARKET
from marketdata_assets_tests.quality.test_opening_bars import OHLC, session
from marketdata_assets_tests.quality.test_opening_bars import TODAY as MSFT_TODAY
from marketdata_assets_tests.quality.test_opening_bars import YESTERDAY as MSFT_YESTERDAY
from marketdata_assets_tests.quality.test_opening_ticks import (
    MARKET,
    T_TODAY,
    T_YESTERDAY,
    TODAY,
    YESTERDAY,
    _prices,
    _trades,
)


def test_validated_ticks_warm_up_reads_the_previous_partition_from_the_archive(warehouse_url, tmp_path):
    today = _prices(15)
    today = np.insert(today, 10, today[9] * 10)   # a decimal-shifted print among the opening trades
    path = write_scid(tmp_path / "ESH24.scid", np.concatenate([_trades(T_YESTERDAY, _prices(400)),
                                                               _trades(T_TODAY, today)]))
    with open_warehouse(warehouse_url) as wh:
        for day in (YESTERDAY, TODAY):
            load_raw(wh, path, "ESH24", MARKET, day, "load")
        validate(wh, "ESH24", MARKET, YESTERDAY, "r0", tick_size=0.25, run_gx=False)
        hot = tick_warmup(wh, "ESH24", MARKET, TODAY, DEFAULT_PARAMS.ticks)

        archive_partition(wh, str(tmp_path / "archive"), "ESH24", YESTERDAY)
        cold = tick_warmup(wh, "ESH24", MARKET, TODAY, DEFAULT_PARAMS.ticks)
        result = validate(wh, "ESH24", MARKET, TODAY, "r1", tick_size=0.25, run_gx=False)
        archived_ticks = wh.read_hot("ticks", partition_scope("ESH24", YESTERDAY))

    assert archived_ticks.empty
    assert hot[1]["from"] == f"previous partition {YESTERDAY}" and 25 < hot[1]["scale_bp"] < 35
    assert cold == hot
    assert result.quarantined == 1 and result.details["bad_tick_warmup"] == hot[1]


def test_validated_bars_warm_up_reads_the_previous_partition_from_the_archive(warehouse_url, tmp_path):
    calm = session(MSFT_YESTERDAY)
    mid = calm[OHLC].to_numpy().mean()
    volatile = calm.assign(**{c: mid + 10 * (calm[c] - mid) for c in OHLC})
    with open_warehouse(warehouse_url) as wh:
        raw = volatile.drop(columns=["trading_date"]).assign(trading_date=str(MSFT_YESTERDAY))
        wh.replace_partition("raw_bars", raw, partition_scope("MSFT", MSFT_YESTERDAY))
        validate_provider_bars(wh, "MSFT", MSFT_MARKET, MSFT_YESTERDAY, "r0", tick_size=None, run_gx=False)
        hot = bar_warmup(wh, "MSFT", MSFT_MARKET, "provider", MSFT_TODAY, DEFAULT_PARAMS.bars)

        archive_partition(wh, str(tmp_path / "archive"), "MSFT", MSFT_YESTERDAY)
        cold = bar_warmup(wh, "MSFT", MSFT_MARKET, "provider", MSFT_TODAY, DEFAULT_PARAMS.bars)
        archived_bars = wh.read_hot("base_bars", partition_scope("MSFT", MSFT_YESTERDAY))

    assert archived_bars.empty
    assert hot[1]["from"] == f"previous partition {MSFT_YESTERDAY}" and 30 < hot[1]["scale_bp"] < 60
    assert cold == hot
