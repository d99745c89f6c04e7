"""What Redis must hold for a ``.scid`` file, computed with the batch path, and the checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from marketdata_assets.model import aggressor
from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.model.timeframes import TIMEFRAMES
from marketdata_assets.sources.sierra.scid import read_scid
from marketdata_assets.storage.live_reader import LiveCache
from marketdata_assets.transforms.aggregation import bars_from_trades
from marketdata_assets.transforms.indicators import compute_indicators
from marketdata_assets.transforms.normalize import raw_frame, split_raw

TICK_COLUMNS = ["ts", "kind", "price", "size", "bid", "ask", "side", "num_trades", "sub_trade", "source_offset"]
EXACT_BAR_COLUMNS = ["timeframe", "ts", "open", "high", "low", "close", "volume", "num_trades", "bid_volume",
                     "ask_volume"]


def batch_ticks(path: Path, instrument: str) -> pd.DataFrame:
    market = market_for_instrument(instrument)
    raw = raw_frame(read_scid(path).records, instrument, market, "scid", "test")
    ticks, _ = split_raw(raw)
    return ticks.assign(side=aggressor.names(ticks["aggressor"].to_numpy()))   # the live API's text


def batch_bars(ticks: pd.DataFrame, instrument: str, timeframe: str) -> pd.DataFrame:
    """Batch bars of every trading date, concatenated, with their trading date."""
    market = market_for_instrument(instrument)
    trades = ticks[ticks["kind"] == "trade"]
    frames = []
    for day, group in trades.groupby("trading_date"):
        bars = bars_from_trades(group, market, pd.Timestamp(day).date(), (timeframe,))
        bars["trading_date"] = pd.Timestamp(day).date()
        frames.append(bars)
    return pd.concat(frames, ignore_index=True)


def assert_redis_matches_file(cache: LiveCache, path: Path, instrument: str) -> None:
    """Every tick exactly once, bars equal to the batch bars, indicators equal to the batch ones."""
    ticks = batch_ticks(path, instrument)
    live = cache.ticks(instrument, n=len(ticks) + 1000)
    assert live["source_offset"].is_unique, "a tick is in the stream twice"
    assert len(live) == len(ticks), f"{len(live)} ticks in Redis, {len(ticks)} in the file"
    expected = ticks[TICK_COLUMNS].reset_index(drop=True)
    pd.testing.assert_frame_equal(live[TICK_COLUMNS], expected, check_dtype=False)
    for tf in TIMEFRAMES:
        batch = batch_bars(ticks, instrument, tf)
        bars = cache.bars(instrument, tf, n=len(batch) + 10, include_forming=True)
        pd.testing.assert_frame_equal(bars[EXACT_BAR_COLUMNS], batch[EXACT_BAR_COLUMNS], check_dtype=False)
        np.testing.assert_allclose(bars["vwap"], batch["vwap"], rtol=1e-12)
        closed = batch.iloc[:-1].reset_index(drop=True)
        values = cache.indicators(instrument, tf)
        if len(closed) == 0:
            assert values == {}
            continue
        reference = compute_indicators(closed).iloc[-1]
        assert values["ts"] == closed["ts"].iloc[-1]
        for column in reference.index.drop("ts"):
            np.testing.assert_allclose(values[column], reference[column], rtol=1e-12, equal_nan=True,
                                       err_msg=f"{tf} {column}")
