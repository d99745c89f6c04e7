"""Redis key layout, codecs and the LiveCache read API (real Redis)."""

from __future__ import annotations

import asyncio
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from redis.asyncio import Redis

from marketdata_assets.errors import InvalidInstrument
from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.sidecar.pipeline import InstrumentPipeline
from marketdata_assets.sidecar.publish import RedisWriter
from marketdata_assets.sources.sierra.scid import HEADER_SIZE
from marketdata_assets.storage.live_cache import BAR_COLUMNS, Keys, LiveCache, pack_bar, unpack_bars

from .conftest import SHARED_REDIS
from .writer import records


@pytest.mark.parametrize("bad", ["", "../etc/passwd", "ES:Z24", "ES Z24", "*", "a" * 41, None])
def test_invalid_instrument_never_reaches_a_key(bad):
    keys = Keys("md")
    for make in (keys.ticks, keys.forming, keys.last, keys.state, keys.bar_events,
                 lambda i: keys.bars(i, "1m"), lambda i: keys.indicators(i, "1m")):
        with pytest.raises(InvalidInstrument):
            make(bad)
    cache = LiveCache(SHARED_REDIS, "md")
    with pytest.raises(InvalidInstrument):
        cache.bars(bad, "1m")
    cache.close()


def test_unknown_timeframe_is_refused():
    with pytest.raises(ValueError, match="unknown timeframe"):
        Keys("md").bars("ESH24", "2m")


def test_bar_codec_round_trips_80_bytes_with_nan_vwap():
    members = [pack_bar(120_000_000, 2.0, 3.0, 1.0, 2.5, 10.0, 4, 6.0, 4.0, math.nan),
               pack_bar(60_000_000, 1.0, 2.0, 0.5, 1.5, 7.0, 3, 3.0, 4.0, 1.25)]
    assert {len(m) for m in members} == {80}
    frame = unpack_bars(members, "1m")
    assert list(frame.columns) == BAR_COLUMNS
    assert frame["ts"].tolist() == [pd.Timestamp(60, unit="s", tz="UTC"), pd.Timestamp(120, unit="s", tz="UTC")]
    assert frame["vwap"].iloc[0] == 1.25 and math.isnan(frame["vwap"].iloc[1])
    assert str(frame["ts"].dtype) == "datetime64[us, UTC]"


def test_live_cache_reads_what_a_commit_wrote(prefix):
    rec = records("ESH24", 6_000, seed=91, first_day=date(2024, 3, 7), days=1)
    pipeline = InstrumentPipeline("ESH24", market_for_instrument("ESH24"))
    batch = pipeline.process(rec, HEADER_SIZE)

    async def commit():
        client = Redis.from_url(SHARED_REDIS)
        writer = RedisWriter(client, Keys(prefix), stream_maxlen=100_000, bars_kept=50, heartbeat_ttl_s=30)
        first = await writer.commit([batch], {"ESH24": None}, {"ts_us": 1, "status": "running"})
        again = await writer.commit([batch], {"ESH24": None})  # replayed: refused, and the guard sees it
        await client.aclose()
        return first, again

    first, again = asyncio.run(commit())
    assert first.mismatched == {} and first.duplicates == 0
    assert again.mismatched == {"ESH24": batch.end_offset} and again.duplicates == len(batch.ticks)
    with LiveCache(SHARED_REDIS, prefix) as cache:
        assert cache.offsets() == {"ESH24": batch.end_offset}
        ticks = cache.ticks("ESH24", n=100)
        assert len(ticks) == 100 and ticks["source_offset"].iloc[-1] == batch.ticks.offset[-1]
        assert len(cache.ticks("ESH24", n=10**6)) == len(batch.ticks)
        bars = cache.bars("ESH24", "1m", n=5000)
        assert len(bars) == 50  # capped at bars_kept
        closed_1m = [c for c in batch.closed if c.timeframe == "1m"]
        assert bars["ts"].iloc[-1] == pd.Timestamp(closed_1m[-1].bar.start, unit="us", tz="UTC")
        assert len(cache.bars("ESH24", "1m", n=10, include_forming=True)) == 11
        assert cache.forming_bar("ESH24", "1m")["close"] == rec["close"][rec["total_volume"] > 0][-1]
        quote = cache.last_quote("ESH24")
        assert quote["bid"] == float(batch.ticks.bid[-1]) and quote["ask"] == float(batch.ticks.ask[-1])
        assert cache.last_trade("ESH24")["size"] > 0
        ind = cache.indicators("ESH24", "1m")
        assert ind["ts"] == bars["ts"].iloc[-1]
        np.testing.assert_allclose(ind["ema_20"], closed_1m[-1].indicators["ema_20"])
        assert cache.indicators("ESH24", "1d") == {}
        beat = cache.heartbeat()
        assert beat["stale"] is True  # ts 1 µs after the epoch
        assert cache.last_quote("NQH24") is None
