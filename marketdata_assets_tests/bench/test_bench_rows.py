"""The arithmetic under two ``make bench`` rows (the rows themselves need minutes: not run here)."""

from __future__ import annotations

import numpy as np

from marketdata_assets.bench.backfill import trading_days, write_days
from marketdata_assets.bench.live_ws import covering_latencies
from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.sources.sierra.scid import read_scid


def test_a_tick_waits_for_the_first_bar_message_that_covers_it():
    ticks = np.array([10, 20, 30, 40], dtype=np.int64)
    seen = [(15, 100), (30, 200)]          # (last_ts_us of the bar's batch, arrival µs)

    lat = covering_latencies(ticks, seen)

    np.testing.assert_allclose(lat, [0.090, 0.180, 0.170])   # ms; the tick at 40 is not covered yet


def test_backfill_partitions_are_distinct_trading_days_each_holding_its_ticks(tmp_path):
    market = market_for_instrument("ESH24")
    days = trading_days(20)
    path = tmp_path / "ESH24.scid"

    write_days(path, days[:3], 1000)

    assert len(set(days)) == 20 and days == sorted(days) and all(market.is_trading_day(d) for d in days)
    ts = read_scid(path).records["ts"].dt.as_unit("us").array.asi8
    owners = market.trading_dates(ts)
    assert [int((owners == np.datetime64(d, "D")).sum()) for d in days[:3]] == [1000, 1000, 1000]
