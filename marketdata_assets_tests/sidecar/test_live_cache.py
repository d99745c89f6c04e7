"""Redis key layout, codecs and the LiveCache read API (real Redis)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from datetime import date

import numpy as np
import pandas as pd
import pytest
import redis
from redis.asyncio import Redis

from marketdata_assets.errors import InvalidInstrument, StorageError
from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.sidecar.pipeline import InstrumentPipeline
from marketdata_assets.sidecar.publish import RedisWriter
from marketdata_assets.sources.sierra.scid import HEADER_SIZE, KIND_NAMES, KIND_QUOTE, KIND_TRADE, classify
from marketdata_assets.storage.live_codec import (
    BAR_COLUMNS,
    BAR_DTYPE,
    BAR_FIELDS,
    BAR_STRUCT,
    RING_HEADER,
    TICK_DTYPE,
    TICK_FIELD,
    bars_frame,
    pack_bar,
    ring_append_commands,
    ring_header,
)
from marketdata_assets.storage.live_keys import Keys
from marketdata_assets.storage.live_reader import LiveCache

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
    frame = bars_frame(b"".join(reversed(members)), "1m")
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
        writer = RedisWriter(client, SHARED_REDIS, Keys(prefix), stream_maxlen=100_000, bars_kept=50, heartbeat_ttl_s=30)
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


# -- bar ring ------------------------------------------------------------------------------
MINUTE = 60_000_000


def bar(k: int, vwap: float | None = None) -> bytes:
    """Bar number ``k``: start k minutes after the epoch, every field derived from k."""
    return pack_bar(k * MINUTE, 100.0 + k, 101.0 + k, 99.0 + k, 100.5 + k, 10.0 * k, k, 4.0 * k, 6.0 * k,
                    100.25 + k if vwap is None else vwap)


def append(client, key: str, capacity: int, first_seq: int, members: list[bytes]) -> list[tuple]:
    """What the writer does: the commands of ``ring_append_commands`` in one MULTI."""
    cmds = ring_append_commands(key, capacity, first_seq, members)
    with client.pipeline(transaction=True) as pipe:
        for cmd in cmds:
            pipe.execute_command(*cmd)
        pipe.execute()
    return cmds


def expected_frame(numbers, timeframe: str = "1m") -> pd.DataFrame:
    """The bar frame of bars ``numbers``, built independently of the codec."""
    rows = [dict(zip(BAR_FIELDS, BAR_STRUCT.unpack(bar(k)), strict=True)) for k in numbers]
    frame = pd.DataFrame(rows, columns=list(BAR_FIELDS)).astype({"ts": "int64", "num_trades": "int64"})
    frame = frame.astype({c: "float64" for c in BAR_FIELDS if c not in ("ts", "num_trades")})
    frame["ts"] = pd.to_datetime(frame["ts"], unit="us", utc=True).astype("datetime64[us, UTC]")
    frame.insert(0, "timeframe", pd.Series([timeframe] * len(frame), dtype=object))
    return frame


def numbers_of(arr: np.ndarray) -> list[int]:
    return (arr["ts"] // MINUTE).tolist()


def test_ring_append_commands_coalesce_and_write_the_header_last():
    key = "md:bars:ESH24:1m"
    cmds = ring_append_commands(key, 5, 0, [bar(0), bar(1), bar(2)])
    assert cmds == [("SETRANGE", key, 16, bar(0) + bar(1) + bar(2)),
                    ("SETRANGE", key, 0, RING_HEADER.pack(3, 5))]
    cmds = ring_append_commands(key, 5, 3, [bar(3), bar(4), bar(5), bar(6)])  # slots 3, 4 then 0, 1
    assert cmds == [("SETRANGE", key, 16 + 3 * 80, bar(3) + bar(4)),
                    ("SETRANGE", key, 16, bar(5) + bar(6)),
                    ("SETRANGE", key, 0, RING_HEADER.pack(7, 5))]
    assert ring_append_commands(key, 5, 7, []) == []
    for cmd in cmds:  # what hiredis.pack_command accepts
        assert all(isinstance(arg, str | bytes | int) for arg in cmd)
    with pytest.raises(ValueError, match="79 bytes"):
        ring_append_commands(key, 5, 0, [bar(0), bar(1)[:79]])
    with pytest.raises(ValueError, match="capacity"):
        ring_append_commands(key, 0, 0, [bar(0)])
    with pytest.raises(ValueError, match="first_seq"):
        ring_append_commands(key, 5, -1, [bar(0)])


def test_ring_more_than_capacity_in_one_call_keeps_only_the_last(prefix, shared_redis):
    key = Keys(prefix).bars("ESH24", "1m")
    append(shared_redis, key, 5, 0, [bar(0), bar(1)])
    cmds = append(shared_redis, key, 5, 2, [bar(k) for k in range(2, 14)])  # 12 bars: 9..13 survive
    assert [len(c[3]) for c in cmds] == [80, 4 * 80, 16]  # bar 9 goes to slot 4, 10..13 wrap to slots 0..3
    assert cmds[0][2] == 16 + 4 * 80
    assert b"".join(c[3] for c in cmds[:2]) == b"".join(bar(k) for k in range(9, 14))
    assert ring_header(shared_redis.getrange(key, 0, 15)) == (14, 5)
    assert shared_redis.strlen(key) == 16 + 5 * 80
    with LiveCache(SHARED_REDIS, prefix) as cache:
        for _ in range(2):  # first read through the script, then (capacity known) through GET
            assert numbers_of(cache.bars_array("ESH24", "1m", 5000)) == [9, 10, 11, 12, 13]


def test_ring_wraps_around_in_uneven_chunks(prefix, shared_redis):
    key = Keys(prefix).bars("ESH24", "1m")
    seq = 0
    for size in (3, 1, 4, 2, 3):  # 13 bars through a ring of 5: wraps twice
        append(shared_redis, key, 5, seq, [bar(k) for k in range(seq, seq + size)])
        seq += size
        assert ring_header(shared_redis.getrange(key, 0, 15)) == (seq, 5)
        stored = list(range(max(0, seq - 5), seq))
        for n in (1, 3, 5, 7):
            with LiveCache(SHARED_REDIS, prefix) as cache:  # fresh: the script path
                first = numbers_of(cache.bars_array("ESH24", "1m", n))
                again = numbers_of(cache.bars_array("ESH24", "1m", n))  # capacity known: GET if n >= 5
            assert first == again == stored[-n:], (seq, n)
    assert shared_redis.strlen(key) == 16 + 5 * 80
    raw = shared_redis.get(key)
    assert RING_HEADER.unpack(raw[:16]) == (13, 5)
    slots = [raw[16 + 80 * s: 16 + 80 * (s + 1)] for s in range(5)]
    assert slots == [bar(10), bar(11), bar(12), bar(8), bar(9)]  # bar k in slot k % 5
    with LiveCache(SHARED_REDIS, prefix) as cache:
        for _ in range(2):
            frame = cache.bars("ESH24", "1m")
            pd.testing.assert_frame_equal(frame, expected_frame(range(8, 13)), check_exact=True)
            arr = cache.bars_array("ESH24", "1m")
            assert arr.dtype == BAR_DTYPE and numbers_of(arr) == [8, 9, 10, 11, 12]
            assert arr["close"].tolist() == [100.5 + k for k in range(8, 13)]


@pytest.mark.parametrize("n, numbers", [(2, [10, 11]), (6, list(range(6, 12))), (4000, list(range(12))),
                                        (10**12, list(range(12))), (0, []), (-3, [])])
def test_bars_n_smaller_larger_zero(prefix, shared_redis, n, numbers):
    append(shared_redis, Keys(prefix).bars("ESH24", "5m"), 8, 0, [bar(k) for k in range(12)])
    with LiveCache(SHARED_REDIS, prefix) as cache:
        for _ in range(2):
            frame = cache.bars("ESH24", "5m", n=n)
            pd.testing.assert_frame_equal(frame, expected_frame(numbers[-8:] if numbers else [], "5m"))
            assert numbers_of(cache.bars_array("ESH24", "5m", n)) == numbers[-8:]


def test_bars_of_a_ring_not_yet_full(prefix, shared_redis):
    append(shared_redis, Keys(prefix).bars("ESH24", "1m"), 5000, 0, [bar(k) for k in range(3)])
    with LiveCache(SHARED_REDIS, prefix) as cache:
        for n in (5000, 5000, 2, 5000):
            assert numbers_of(cache.bars_array("ESH24", "1m", n)) == [0, 1, 2][-n:]


def test_bars_include_forming(prefix, shared_redis):
    keys = Keys(prefix)
    append(shared_redis, keys.bars("ESH24", "1m"), 4, 0, [bar(k) for k in range(6)])
    forming = bar(6, vwap=math.nan)
    shared_redis.hset(keys.forming("ESH24"), mapping={"1m": forming, "5m": bar(99)})
    with LiveCache(SHARED_REDIS, prefix) as cache:
        for n, closed in ((2, [4, 5]), (4, [2, 3, 4, 5]), (4, [2, 3, 4, 5]), (0, [])):
            frame = cache.bars("ESH24", "1m", n=n, include_forming=True)
            assert [int(t.timestamp()) // 60 for t in frame["ts"]] == [*closed, 6]
            assert math.isnan(frame["vwap"].iloc[-1]) and frame["close"].iloc[-1] == 106.5
            assert numbers_of(cache.bars_array("ESH24", "1m", n, include_forming=True)) == [*closed, 6]
            assert len(cache.bars("ESH24", "1m", n=n)) == len(closed)  # not without the flag
        # no forming bar for the timeframe: nothing appended
        append(shared_redis, keys.bars("ESH24", "15m"), 4, 0, [bar(0)])
        assert numbers_of(cache.bars_array("ESH24", "15m", 10, include_forming=True)) == [0]
        # no ring yet, but a forming bar
        assert numbers_of(cache.bars_array("ESH24", "5m", 10, include_forming=True)) == [99]


def test_missing_ring_is_an_empty_frame(prefix):
    with LiveCache(SHARED_REDIS, prefix) as cache:
        for include_forming in (False, True):
            frame = cache.bars("ESH24", "1h", include_forming=include_forming)
            assert frame.empty and list(frame.columns) == BAR_COLUMNS
            pd.testing.assert_frame_equal(frame, expected_frame([], "1h"))
            arr = cache.bars_array("ESH24", "1h", include_forming=include_forming)
            assert arr.dtype == BAR_DTYPE and len(arr) == 0


def test_frame_columns_dtypes_and_writable(prefix, shared_redis):
    append(shared_redis, Keys(prefix).bars("ESH24", "4h"), 10, 0, [bar(k) for k in range(10)])
    with LiveCache(SHARED_REDIS, prefix) as cache:
        frame = cache.bars("ESH24", "4h", n=10)
    assert list(frame.columns) == BAR_COLUMNS
    assert {c: str(t) for c, t in frame.dtypes.items()} == {
        "timeframe": "object", "ts": "datetime64[us, UTC]", "num_trades": "int64",
        **{c: "float64" for c in ("open", "high", "low", "close", "volume", "bid_volume", "ask_volume", "vwap")}}
    assert frame["timeframe"].tolist() == ["4h"] * 10
    assert frame.index.equals(pd.RangeIndex(10))
    frame.loc[0, "close"] = -1.0  # columns own their memory
    frame["num_trades"] += 1
    assert frame["close"].iloc[0] == -1.0 and frame["num_trades"].tolist() == list(range(1, 11))


def test_bar_frames_of_any_length_equal_an_independent_construction():
    rng = np.random.default_rng(3)
    for k in (0, 1, 2, 5000):
        arr = np.zeros(k, BAR_DTYPE)
        arr["ts"] = np.sort(rng.integers(0, 2**52, k))
        arr["num_trades"] = rng.integers(0, 10**6, k)
        for name in BAR_FIELDS:
            if name not in ("ts", "num_trades"):
                arr[name] = rng.normal(size=k) * 1e3
        if k:
            arr["vwap"][0] = math.nan
        want = pd.DataFrame({"timeframe": pd.Series(["1d"] * k, dtype=object),
                             "ts": pd.to_datetime(arr["ts"], unit="us", utc=True).as_unit("us"),
                             **{name: arr[name].astype(np.int64 if name == "num_trades" else np.float64)
                                for name in BAR_FIELDS[1:]}})
        for data in (arr, arr.tobytes()):
            pd.testing.assert_frame_equal(bars_frame(data, "1d"), want, check_exact=True)


def test_codec_sizes_match_the_documented_layout():
    assert BAR_DTYPE.itemsize == BAR_STRUCT.size == 80
    assert TICK_DTYPE.itemsize == 56 and TICK_DTYPE["kind"] == np.uint8


def test_tick_kind_bytes_are_the_scid_readers_codes(prefix, shared_redis):
    """Trades and bid/ask updates through the sidecar's pipeline and writer: each stream entry's
    kind byte is the .scid reader's code for its record, and the reader names it like the batch path."""
    rec = records("ESH24", 2_000, seed=17, first_day=date(2024, 3, 7), days=1)
    kind, _ = classify(rec["open"], rec["high"], rec["low"], rec["total_volume"])
    want = kind[(kind == KIND_TRADE) | (kind == KIND_QUOTE)]
    assert {KIND_TRADE, KIND_QUOTE} <= set(want.tolist())
    batch = InstrumentPipeline("ESH24", market_for_instrument("ESH24")).process(rec, HEADER_SIZE)

    async def commit():
        client = Redis.from_url(SHARED_REDIS)
        writer = RedisWriter(client, SHARED_REDIS, Keys(prefix), stream_maxlen=100_000, bars_kept=50, heartbeat_ttl_s=30)
        await writer.commit([batch], {"ESH24": None})
        await client.aclose()

    asyncio.run(commit())
    entries = shared_redis.xrange(Keys(prefix).ticks("ESH24"))
    stored = np.frombuffer(b"".join(fields[TICK_FIELD] for _, fields in entries), TICK_DTYPE)
    assert stored["kind"].tolist() == want.tolist()
    with LiveCache(SHARED_REDIS, prefix) as cache:
        assert cache.ticks("ESH24", n=10**6)["kind"].tolist() == KIND_NAMES[want].tolist()


def test_wrong_type_key_is_a_clear_error(prefix, shared_redis):
    keys = Keys(prefix)
    ring = keys.bars("ESH24", "1m")
    append(shared_redis, ring, 5, 0, [bar(k) for k in range(5)])
    with LiveCache(SHARED_REDIS, prefix) as cache:
        assert len(cache.bars("ESH24", "1m")) == 5  # capacity learnt: the next full read is a GET
        shared_redis.delete(ring)
        shared_redis.zadd(ring, {bar(0): 0})  # the old layout
        for n, include_forming in ((5000, False), (5000, True), (3, False), (3, True)):
            with pytest.raises(StorageError, match=f"bars key {ring} holds a zset, not a bar ring string"):
                cache.bars("ESH24", "1m", n=n, include_forming=include_forming)
        with pytest.raises(StorageError, match=f"bars key {ring} holds a zset"):
            LiveCache(SHARED_REDIS, prefix, client=shared_redis).bars_array("ESH24", "1m")
        shared_redis.set(keys.forming("NQH24"), b"x")
        append(shared_redis, keys.bars("NQH24", "1m"), 5, 0, [bar(0)])
        for n in (3, 5000, 5000):
            with pytest.raises(StorageError, match=f"forming-bar key {keys.forming('NQH24')} holds a string"):
                cache.bars("NQH24", "1m", n=n, include_forming=True)


def test_corrupt_ring_is_an_error(prefix, shared_redis):
    ring = Keys(prefix).bars("ESH24", "1m")
    shared_redis.set(ring, RING_HEADER.pack(10, 5) + bar(0))  # header says 5 bars, one there
    with LiveCache(SHARED_REDIS, prefix) as cache:
        with pytest.raises(StorageError, match=f"CORRUPT bars key {ring}"):
            cache.bars("ESH24", "1m", n=3)
        cache._capacity[ring] = 5
        with pytest.raises(StorageError, match=f"CORRUPT bars key {ring}"):
            cache.bars("ESH24", "1m", n=5000)
        shared_redis.set(ring, b"short")
        with pytest.raises(StorageError, match="5-byte ring header"):
            cache.bars("ESH24", "1m", n=3)


def test_reads_are_atomic_while_bars_are_appended(prefix):
    """A writer appends 1-3 bars per MULTI; every read is a run of consecutive bars ending at the header total."""
    key = Keys(prefix).bars("ESH24", "1m")
    writer = redis.Redis.from_url(SHARED_REDIS)
    stop = threading.Event()
    written = [0]

    def write():
        rng = np.random.default_rng(4)
        seq = 0
        while not stop.is_set():
            size = int(rng.integers(1, 4))
            append(writer, key, 7, seq, [bar(k) for k in range(seq, seq + size)])
            seq += size
            written[0] = seq

    thread = threading.Thread(target=write)
    thread.start()
    try:
        with LiveCache(SHARED_REDIS, prefix) as cache:
            reads = 0
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline or reads < 200:
                for n in (3, 7, 50):
                    got = numbers_of(cache.bars_array("ESH24", "1m", n))
                    assert got == list(range(got[0], got[0] + len(got))) if got else True, got
                    assert len(got) == min(n, 7, got[-1] + 1 if got else 0)
                    reads += 1
    finally:
        stop.set()
        thread.join(10)
        writer.close()
    assert written[0] > 7  # the ring wrapped during the reads


def test_read_path_fetches_only_what_is_asked(prefix, shared_redis, monkeypatch):
    """n below the capacity: the script (bytes of n bars); the whole ring: one GET."""
    append(shared_redis, Keys(prefix).bars("ESH24", "1m"), 5, 0, [bar(k) for k in range(7)])
    with LiveCache(SHARED_REDIS, prefix) as cache:
        gets, scripts = [], []
        real_get, real_script = cache.redis.get, cache._read_bars
        monkeypatch.setattr(cache.redis, "get", lambda key: gets.append(key) or real_get(key))
        monkeypatch.setattr(cache, "_read_bars", lambda **kw: scripts.append(kw) or real_script(**kw))
        assert numbers_of(cache.bars_array("ESH24", "1m", 5)) == [2, 3, 4, 5, 6]  # capacity unknown yet
        assert (len(gets), len(scripts)) == (0, 1)
        assert numbers_of(cache.bars_array("ESH24", "1m", 4)) == [3, 4, 5, 6]
        assert (len(gets), len(scripts)) == (0, 2)
        assert numbers_of(cache.bars_array("ESH24", "1m", 5)) == [2, 3, 4, 5, 6]
        assert (len(gets), len(scripts)) == (1, 2)
