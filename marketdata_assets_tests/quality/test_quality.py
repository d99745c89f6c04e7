"""assess_ticks / assess_bars: routing, scores and the kept + quarantined = input identity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketdata_assets.transforms.badticks import BadTickParams
from marketdata_assets.transforms.quality import QualityParams, assess_bars, assess_ticks, off_grid

from .helpers import BAR_INSTRUMENT, DAY, corrupt_bars, corrupt_ticks, partition


def test_identity_holds_with_every_corruption_at_once(sample):
    market, ticks, bars = sample["ESH24"][0], sample["ESH24"][1], sample[BAR_INSTRUMENT][2]
    bad_ticks = corrupt_ticks(partition(ticks, DAY))
    bad_bars = corrupt_bars(partition(bars, DAY))

    tr = assess_ticks(bad_ticks, market, DAY, 0.25)
    br = assess_bars(bad_bars, sample[BAR_INSTRUMENT][0], DAY, 0.1)

    for report, frame in ((tr, bad_ticks), (br, bad_bars)):
        assert len(report.kept) + len(report.quarantined) == len(frame)
        assert sorted([*report.kept["source_offset"], *report.quarantined["source_offset"]]) == \
            sorted(frame["source_offset"])
        assert report.quarantined["reason"].str.len().gt(0).all()
        assert report.kept["quality_score"].between(0, 1).all()
        assert 0 < report.partition_score < 1
        assert report.partition_score == pytest.approx(report.kept["quality_score"].sum() / len(frame))
    assert "quality_score" not in tr.quarantined and "reason" not in tr.kept


def test_rows_are_assessed_in_file_order(sample):
    market, ticks, _ = sample["ESH24"]
    part = partition(ticks, DAY)
    shuffled = part.sample(frac=1.0, random_state=3)

    report = assess_ticks(shuffled, market, DAY, 0.25)

    assert report.quarantined.empty
    assert report.kept["source_offset"].is_monotonic_increasing


def test_empty_partition_is_clean():
    from marketdata_assets.model.sessions import get_market

    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in {
        "instrument": object, "ts": "datetime64[us, UTC]", "trading_date": "datetime64[s]", "kind": object,
        "price": float, "size": "int64", "bid": float, "ask": float, "aggressor": "int16",
        "source_offset": "int64"}.items()})

    report = assess_ticks(empty, get_market("CME"), DAY, 0.25)

    assert (len(report.kept), len(report.quarantined), report.partition_score) == (0, 0, 1.0)


def test_params_change_what_is_flagged(sample):
    market, ticks, _ = sample["ESH24"]
    part = partition(ticks, DAY)
    strict = QualityParams(ticks=BadTickParams(k_jump=1.0, k_extreme=1e9, k_spike=1e9))

    report = assess_ticks(part, market, DAY, 0.25, strict)

    assert report.rule_counts["price_jump"] > 0
    assert report.quarantined.empty and report.partition_score < 1.0


@pytest.mark.parametrize(("price", "tick", "bad"), [
    (np.float32(1.09005), 0.00001, False),     # reads back as 1.0900499820709229
    (np.float32(2150.3), 0.1, False),
    (np.float32(110.515625), 1 / 64, False),
    (np.float32(70000.01), 0.01, False),       # f32 cannot tell: inconclusive → not flagged
    (5150.1, 0.25, True),
    (1.090055, 0.00001, True),
    (np.nan, 0.25, False),
])
def test_off_grid_tolerates_float32_storage(price, tick, bad):
    assert off_grid(np.array([price], dtype=np.float64), tick)[0] == bad
