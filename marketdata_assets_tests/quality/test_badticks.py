"""Statistical bad-tick flags: jumps vs MAD/ATR, isolated spikes, frozen prices with volume.
Extreme flags quarantine; mild flags only lower the score."""

from __future__ import annotations

import numpy as np
import pytest

from marketdata_assets.transforms.badticks import (
    BAR_PARAMS,
    TICK_PARAMS,
    BadTickParams,
    bar_flags,
    tick_flags,
)
from marketdata_assets.transforms.quality import assess_bars, assess_ticks

from .helpers import BAR_INSTRUMENT, DAY, partition, shift_from, spread_out, trade_positions

ES_TICK = 0.25
GC_TICK = 0.1
PRICES = ("price", "bid", "ask")
OHLC = ("open", "high", "low", "close")


@pytest.fixture()
def es(sample):
    market, ticks, _ = sample["ESH24"]
    return market, partition(ticks, DAY)


@pytest.fixture()
def gc(sample):
    market, _, bars = sample[BAR_INSTRUMENT]
    return market, partition(bars, DAY)


def counts(result) -> dict[str, int]:
    return {k: int(v.sum()) for k, v in result.flags.items() if v.any()}


@pytest.mark.parametrize("scale", ["mad", "atr"])
def test_a_level_shift_of_30_ticks_is_one_mild_price_jump(es, scale):
    market, ticks = es
    row = trade_positions(ticks)[2000]
    shifted = shift_from(ticks, row, 30 * ES_TICK, PRICES)

    result = tick_flags(shifted, ES_TICK, BadTickParams(scale=scale))

    assert counts(result) == {"price_jump": 1}
    assert result.flags["price_jump"][row]
    assert not result.extreme.any()
    assert result.score[row] == pytest.approx(0.6)


def test_a_jump_beyond_k_extreme_is_quarantined(es):
    market, ticks = es
    row = trade_positions(ticks)[1500]
    shifted = shift_from(ticks, row, 400 * ES_TICK, PRICES)

    report = assess_ticks(shifted, market, DAY, ES_TICK)

    assert {k: v for k, v in report.rule_counts.items() if v} == {"price_jump": 1, "price_jump_extreme": 1}
    assert report.quarantined["source_offset"].tolist() == [shifted.loc[row, "source_offset"]]
    assert report.quarantined["reason"].tolist() == ["price_jump_extreme"]


def test_isolated_spikes_are_quarantined_and_their_return_is_not_a_jump(es):
    market, ticks = es
    rows = spread_out(trade_positions(ticks), 3)
    ticks.loc[rows, "price"] += 40 * ES_TICK * np.array([1, -1, 1])

    report = assess_ticks(ticks, market, DAY, ES_TICK)

    assert {k: v for k, v in report.rule_counts.items() if v} == {"isolated_spike": 3}
    assert sorted(report.quarantined["source_offset"]) == sorted(ticks.loc[rows, "source_offset"])
    assert set(report.quarantined["reason"]) == {"isolated_spike"}
    assert report.kept["quality_score"].eq(1.0).all()


def test_a_frozen_price_with_volume_is_a_mild_flag_on_every_row_of_the_run(es):
    market, ticks = es
    trades = trade_positions(ticks)
    run = trades[1000:1150]
    before, after = ticks.loc[trades[999], "price"], ticks.loc[trades[1150], "price"]
    frozen = next(p for p in before + ES_TICK * np.array([2, 3, -2, -3]) if p != after)
    ticks.loc[run, "price"] = frozen

    report = assess_ticks(ticks, market, DAY, ES_TICK)

    assert {k: v for k, v in report.rule_counts.items() if v} == {"flat_price_with_volume": 150}
    assert report.quarantined.empty
    in_run = report.kept["source_offset"].isin(ticks.loc[run, "source_offset"]).to_numpy()
    assert np.allclose(report.kept["quality_score"][in_run], 0.7)
    assert report.partition_score == pytest.approx(1 - 0.3 * 150 / len(ticks))


def test_a_short_flat_run_or_one_without_volume_is_not_flagged(es):
    market, ticks = es
    trades = trade_positions(ticks)
    ticks.loc[trades[1000:1150], "price"] = ticks.loc[trades[999], "price"] + 2 * ES_TICK
    ticks.loc[trades[1000:1150], "size"] = 0
    ticks.loc[trades[2000:2090], "price"] = ticks.loc[trades[1999], "price"] + 2 * ES_TICK

    result = tick_flags(ticks, ES_TICK)

    assert not result.flags["flat_price_with_volume"].any()


def test_bar_close_spike_and_wick_spike_are_isolated_spikes(gc):
    market, bars = gc
    close_row, wick_row = spread_out(np.arange(len(bars)), 2)
    bars.loc[close_row, "close"] += 100 * GC_TICK
    bars.loc[close_row, "high"] = bars.loc[close_row, ["high", "close"]].max()
    bars.loc[wick_row, "high"] += 600 * GC_TICK

    report = assess_bars(bars, market, DAY, GC_TICK)

    assert {k: v for k, v in report.rule_counts.items() if v} == {"isolated_spike": 2}
    assert len(report.quarantined) == 2


def test_bar_level_shift_beyond_k_atr_is_one_mild_jump(gc):
    _, bars = gc
    shifted = shift_from(bars, 700, 80 * GC_TICK, OHLC)

    result = bar_flags(shifted, GC_TICK, BAR_PARAMS)

    assert counts(result) == {"price_jump": 1}
    assert result.flags["price_jump"][700]


def test_flat_bars_with_volume_are_flagged(gc):
    _, bars = gc
    level = bars.loc[720, "close"]
    bars.loc[700:719, list(OHLC)] = level

    result = bar_flags(bars, GC_TICK)

    assert counts(result) == {"flat_price_with_volume": 20}


def test_clean_sample_has_no_bad_tick_flags_with_either_scale(sample):
    from marketdata_assets.model.contracts import tick_size_for

    for inst, (_, ticks, bars) in sample.items():
        for scale in ("mad", "atr"):
            if inst == BAR_INSTRUMENT:
                result = bar_flags(bars, tick_size_for(inst), BadTickParams(scale=scale, window=30))
            else:
                result = tick_flags(ticks, tick_size_for(inst), BadTickParams(scale=scale))
            assert counts(result) == {}, (inst, scale)
            assert (result.score == 1.0).all()


def test_params_are_validated():
    with pytest.raises(ValueError, match="scale"):
        BadTickParams(scale="stdev")
    with pytest.raises(ValueError, match="unknown bad-tick flags"):
        BadTickParams(weights={"nonsense": 1.0})
    assert TICK_PARAMS.k_extreme > TICK_PARAMS.k_jump
