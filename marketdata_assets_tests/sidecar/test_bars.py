"""Live bars and indicators against the batch path, whatever the batch boundaries."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.model.timeframes import TIMEFRAMES
from marketdata_assets.sidecar.pipeline import InstrumentPipeline
from marketdata_assets.sources.sierra.scid import HEADER_SIZE, RECORD_DTYPE, SC_EPOCH_US, read_scid
from marketdata_assets.storage.live_codec import bars_frame
from marketdata_assets.testkit.sierra_sample import bar_records, write_scid
from marketdata_assets.transforms.aggregation import bars_from_bars
from marketdata_assets.transforms.indicators import compute_indicators
from marketdata_assets.transforms.normalize import raw_frame, split_raw

from .expected import EXACT_BAR_COLUMNS, batch_bars
from .writer import records


def feed(pipeline: InstrumentPipeline, rec: np.ndarray, rng: np.random.Generator, restart_share: float = 0.0):
    """Feed ``rec`` in random-size batches, sometimes through a state round trip."""
    closed, offset, i = [], HEADER_SIZE, 0
    while i < len(rec):
        k = int(rng.integers(1, 500))
        batch = pipeline.process(rec[i: i + k], offset)
        closed += batch.closed
        i, offset = i + k, batch.end_offset
        if rng.random() < restart_share:  # a restart: state through bytes, as from Redis
            fields = {key.encode(): (v.encode() if isinstance(v, str) else v)
                      for key, v in pipeline.state_fields(offset).items()}
            pipeline = InstrumentPipeline(pipeline.instrument, pipeline.market)
            assert pipeline.load(fields) == offset
    return pipeline, closed


def live_bars(pipeline, closed, tf) -> pd.DataFrame:
    members = [c.packed() for c in closed if c.timeframe == tf]
    forming = pipeline.forming_packed()[tf]
    return bars_frame(b"".join(members + ([forming] if forming else [])), tf)


@pytest.mark.parametrize("instrument, first_day, exact_vwap", [
    ("ESH24", date(2024, 3, 7), True),     # 0.25 ticks: Σp·s is exact, vwap bit-equal
    ("CLJ24", date(2024, 3, 8), False),    # spans the 2024-03-10 US DST change
    ("EURUSD", date(2024, 3, 7), False),
])
def test_live_bars_equal_batch_bars_for_any_batch_split_and_restarts(tmp_path, instrument, first_day, exact_vwap):
    rec = records(instrument, 24_000, seed=5, first_day=first_day, days=3)
    path = write_scid(tmp_path / f"{instrument}.scid", rec)
    pipeline = InstrumentPipeline(instrument, market_for_instrument(instrument))
    pipeline, closed = feed(pipeline, rec, np.random.default_rng(9), restart_share=0.02)
    ticks, _ = split_raw(raw_frame(read_scid(path).records, instrument, pipeline.market, "scid", "t"))
    for tf in TIMEFRAMES:
        batch = batch_bars(ticks, instrument, tf)
        live = live_bars(pipeline, closed, tf)
        pd.testing.assert_frame_equal(live[EXACT_BAR_COLUMNS], batch[EXACT_BAR_COLUMNS], check_dtype=False)
        if exact_vwap:
            np.testing.assert_array_equal(live["vwap"], batch["vwap"])
        else:
            np.testing.assert_allclose(live["vwap"], batch["vwap"], rtol=1e-12)


def test_indicators_of_every_closed_bar_equal_the_batch_indicators():
    rec = records("ESH24", 30_000, seed=6, first_day=date(2024, 3, 7), days=3)
    pipeline = InstrumentPipeline("ESH24", market_for_instrument("ESH24"))
    pipeline, closed = feed(pipeline, rec, np.random.default_rng(10), restart_share=0.02)
    for tf in ("1m", "5m", "15m"):
        mine = [c for c in closed if c.timeframe == tf]
        bars = pd.DataFrame([{"ts": pd.Timestamp(c.bar.start, unit="us", tz="UTC"), "open": c.bar.open,
                              "high": c.bar.high, "low": c.bar.low, "close": c.bar.close,
                              "volume": c.bar.volume, "trading_date": c.bar.trading_date} for c in mine])
        reference = compute_indicators(bars)
        live = pd.DataFrame([c.indicators for c in mine])
        np.testing.assert_allclose(live.to_numpy(), reference[live.columns].to_numpy(), rtol=1e-12, atol=1e-12,
                                   equal_nan=True)
        assert live.notna().all(axis=1).sum() > 100  # past the warm-up


def _record(ts_us: int, price: float, size: int, bid: float, ask: float) -> np.ndarray:
    r = np.zeros(1, RECORD_DTYPE)
    r["dt"], r["high"], r["low"], r["close"] = ts_us + SC_EPOCH_US, ask, bid, price
    r["num_trades"], r["total_volume"], r["ask_volume"] = (1 if size else 0), size, size
    return r


def test_a_quote_in_a_later_minute_closes_the_bar_and_a_late_trade_is_counted():
    market = market_for_instrument("ESH24")
    t0 = market.session_open_us(date(2024, 3, 7))
    pipeline = InstrumentPipeline("ESH24", market)
    first = pipeline.process(np.concatenate([_record(t0 + 1_000, 5150.25, 2, 5150.0, 5150.25),
                                             _record(t0 + 2_000, 5150.5, 1, 5150.25, 5150.5)]), HEADER_SIZE)
    assert first.closed == [] and pipeline.builder.forming("1m").volume == 3
    quote = pipeline.process(_record(t0 + 61_000_000, 0.0, 0, 5150.25, 5150.5), first.end_offset)
    assert [(c.timeframe, c.bar.start, c.bar.close) for c in quote.closed] == [("1m", t0, 5150.5)]
    assert pipeline.builder.forming("1m") is None and quote.forming["1m"] is None
    late = pipeline.process(_record(t0 + 3_000, 5151.0, 5, 5150.75, 5151.0), quote.end_offset)
    assert late.closed == [] and pipeline.builder.late == 1 and pipeline.builder.forming("1m") is None
    assert len(late.ticks) == 1  # still a tick


def test_bar_records_aggregate_like_bars_from_bars(tmp_path):
    market = market_for_instrument("GCJ24_FUT_COMEX")
    rec, _ = bar_records(np.random.default_rng(3), market, date(2024, 3, 7), 2150.0, 0.1)
    path = write_scid(tmp_path / "GCJ24_FUT_COMEX.scid", rec)
    pipeline = InstrumentPipeline("GCJ24_FUT_COMEX", market)
    pipeline, closed = feed(pipeline, rec, np.random.default_rng(4))
    _, base = split_raw(raw_frame(read_scid(path).records, "GCJ24_FUT_COMEX", market, "scid", "t"))
    for tf in TIMEFRAMES:
        batch = bars_from_bars(base, market, date(2024, 3, 7), (tf,))
        live = live_bars(pipeline, closed, tf)
        pd.testing.assert_frame_equal(live, batch, check_dtype=False)


def test_decimal_memo_gives_f32_decimal_values_across_memo_resets():
    from marketdata_assets.sidecar.pipeline import DecimalMemo
    from marketdata_assets.transforms.normalize import f32_decimal

    rng = np.random.default_rng(5)
    memo = DecimalMemo(limit=300)
    for _ in range(200):
        values = (np.round(rng.uniform(1, 6000, int(rng.integers(1, 300))) * 4) / 4).astype(np.float32)
        values[::5] = rng.uniform(0, 2, len(values[::5])).astype(np.float32)  # values needing 7-9 digits
        values[::11] = [np.nan, 0.0, np.inf][int(rng.integers(0, 3))]
        np.testing.assert_array_equal(memo(values), f32_decimal(values))
    assert 0 < len(memo.memo) <= 300
    assert memo(np.array([1.0861500501632690], np.float32))[0] == 1.08615
