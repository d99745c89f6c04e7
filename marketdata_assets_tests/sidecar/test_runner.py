"""The runner in-process, turn by turn: Redis outages, lost Redis state, replaced files."""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis

from marketdata_assets.settings import Secret
from marketdata_assets.sidecar.config import SidecarConfig
from marketdata_assets.sidecar.runner import Runner
from marketdata_assets.storage.live_reader import LiveCache
from marketdata_assets.testkit.sierra_sample import write_scid

from .conftest import SHARED_REDIS
from .expected import EXACT_BAR_COLUMNS, TICK_COLUMNS, assert_redis_matches_file, batch_bars, batch_ticks
from .writer import records


def config(data_dir: Path, redis_url: str, prefix: str, **kw) -> SidecarConfig:
    values = dict(data_dir=data_dir, instruments=(), instrument_markets={}, redis_url=redis_url, prefix=prefix,
                  host="127.0.0.1", port=0, token=Secret(None), poll_ms=10, buffer_max=200_000,
                  stream_maxlen=10_000_000, bars_kept=5000, heartbeat_stale_s=30)
    values.update(kw)
    return SidecarConfig(**values)


async def turn_until(runner: Runner, predicate, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await runner.step()
        await asyncio.sleep(0.01)


def resets(runner: Runner, reason: str) -> float:
    return runner.metrics.registry.get_sample_value("marketdata_sidecar_resets_total", {"reason": reason}) or 0.0


def committed(runner: Runner, inst: str = "ESH24"):
    feed = runner.feeds.get(inst)
    return feed.committed if feed else None


def test_outage_buffers_up_to_buffer_max_pauses_then_flushes_without_rebuild(tmp_path, prefix, private_redis):
    server = private_redis(persistent=True)
    server.start()
    path = tmp_path / "ESH24.scid"
    rec = records("ESH24", 30_000, seed=61, first_day=date(2024, 3, 7), days=2)
    write_scid(path, rec[:5_000])

    async def scenario() -> None:
        runner = Runner(config(tmp_path, server.url, prefix, buffer_max=3_000))
        await turn_until(runner, lambda: committed(runner) == path.stat().st_size, what="first part")
        server.kill()
        write_scid(path, rec[5_000:], append=True)
        await turn_until(runner, lambda: runner.paused, what="reading paused")
        for _ in range(20):  # reading stays paused at the bound while Redis is away
            await runner.step()
            await asyncio.sleep(0.01)
        feed = runner.feeds["ESH24"]
        assert runner.buffered == 3_000
        assert feed.tail.offset == feed.committed + 3_000 * 40
        ok, health = runner.status()
        assert not ok and health["reading_paused"] and not health["redis"]["connected"]
        server.start()  # same data (AOF): the buffer is flushed, nothing rebuilt
        await turn_until(runner, lambda: committed(runner) == path.stat().st_size, what="catch-up")
        assert resets(runner, "redis_state_changed") == resets(runner, "redis_state_lost") == 0
        assert runner.metrics.registry.get_sample_value("marketdata_sidecar_redis_errors_total") >= 1
        await runner.aclose()

    asyncio.run(scenario())
    with LiveCache(server.url, prefix) as cache:
        assert_redis_matches_file(cache, path, "ESH24")


def test_keys_lost_behind_a_live_connection_are_rebuilt_by_the_commit_guard(tmp_path, prefix):
    path = tmp_path / "ESH24.scid"
    rec = records("ESH24", 16_000, seed=71, first_day=date(2024, 3, 7), days=2)
    write_scid(path, rec[:8_000])
    client = redis.Redis.from_url(SHARED_REDIS)

    async def scenario() -> None:
        runner = Runner(config(tmp_path, SHARED_REDIS, prefix, heartbeat_every_s=3600.0))
        await turn_until(runner, lambda: committed(runner) == path.stat().st_size, what="first part")
        client.delete(*client.scan_iter(f"{prefix}:*"))  # e.g. a FLUSHDB by someone else
        write_scid(path, rec[8_000:], append=True)
        await turn_until(runner, lambda: committed(runner) == path.stat().st_size, what="rebuild")
        assert resets(runner, "redis_state_lost") == 1
        await runner.aclose()

    asyncio.run(scenario())
    client.close()
    with LiveCache(SHARED_REDIS, prefix) as cache:
        assert_redis_matches_file(cache, path, "ESH24")


def test_replaced_file_is_read_again_from_its_start(tmp_path, prefix):
    path = tmp_path / "ESH24.scid"
    write_scid(path, records("ESH24", 6_000, seed=81, first_day=date(2024, 3, 7), days=1))
    replacement = records("ESH24", 4_000, seed=82, first_day=date(2024, 3, 8), days=1)

    async def scenario() -> None:
        runner = Runner(config(tmp_path, SHARED_REDIS, prefix, rescan_every_s=0.05))
        await turn_until(runner, lambda: committed(runner) == path.stat().st_size, what="first file")
        tmp = tmp_path / "new.tmp"
        write_scid(tmp, replacement)
        os.replace(tmp, path)
        await turn_until(runner, lambda: committed(runner) == path.stat().st_size and runner.feeds["ESH24"].ready,
                         what="replacement")
        await runner.aclose()

    asyncio.run(scenario())
    with LiveCache(SHARED_REDIS, prefix) as cache:
        assert_redis_matches_file(cache, path, "ESH24")


@pytest.mark.parametrize("state", ["missing file", "corrupt header"])
def test_unreadable_source_is_reported_by_health(tmp_path, prefix, state):
    path = tmp_path / "ESH24.scid"
    if state == "corrupt header":
        path.write_bytes(b"NOPE" + bytes(100))

    async def scenario() -> None:
        runner = Runner(config(tmp_path, SHARED_REDIS, prefix, instruments=("ESH24",)))
        for _ in range(5):
            await runner.step()
        ok, health = runner.status()
        assert not ok
        assert health["instruments"]["ESH24"]["source"] == "error"
        assert health["redis"]["connected"] is True
        await runner.aclose()

    asyncio.run(scenario())


def test_resized_rings_and_old_layout_state_are_rebuilt_from_the_file(tmp_path, prefix):
    path = tmp_path / "ESH24.scid"
    write_scid(path, records("ESH24", 6_000, seed=91, first_day=date(2024, 3, 7), days=1))
    client = redis.Redis.from_url(SHARED_REDIS)

    async def run(**kw) -> Runner:
        runner = Runner(config(tmp_path, SHARED_REDIS, prefix, **kw))
        await turn_until(runner, lambda: committed(runner) == path.stat().st_size and runner.feeds["ESH24"].ready,
                         what="file committed")
        await runner.aclose()
        return runner

    first = asyncio.run(run())
    closed_1m = first.feeds["ESH24"].pipeline.closed_count["1m"]
    assert closed_1m > 20
    # same settings: resumes from the saved state, nothing rebuilt
    again = asyncio.run(run())
    assert resets(again, "bars_layout") == resets(again, "state_unreadable") == 0
    # fewer bars kept: the rings no longer match their header, so the instrument is rebuilt
    smaller = asyncio.run(run(bars_kept=20))
    assert resets(smaller, "bars_layout") == 1
    with LiveCache(SHARED_REDIS, prefix) as cache:
        tail = cache.bars("ESH24", "1m", 10_000)
        batch = batch_bars(batch_ticks(path, "ESH24"), "ESH24", "1m").iloc[:-1]  # the last one is forming
        assert len(batch) == closed_1m
        pd.testing.assert_frame_equal(tail[EXACT_BAR_COLUMNS].reset_index(drop=True),
                                      batch[EXACT_BAR_COLUMNS].iloc[-20:].reset_index(drop=True), check_dtype=False)
        assert client.getrange(f"{prefix}:bars:ESH24:1m", 0, 15) == struct.pack("<qq", closed_1m, 20)
    # a resume state of the previous layout (zset bars, text tick fields) is not trusted
    client.hset(f"{prefix}:state:ESH24", "layout", "1")
    old = asyncio.run(run(bars_kept=5000))
    assert resets(old, "state_unreadable") == 1
    client.close()
    with LiveCache(SHARED_REDIS, prefix) as cache:
        assert_redis_matches_file(cache, path, "ESH24")


def test_commits_go_to_the_database_named_in_the_url(tmp_path, prefix):
    path = tmp_path / "ESH24.scid"
    write_scid(path, records("ESH24", 3_000, seed=95, first_day=date(2024, 3, 7), days=1))
    url = SHARED_REDIS.rsplit("/", 1)[0] + "/7"
    db7, db0 = redis.Redis.from_url(url), redis.Redis.from_url(SHARED_REDIS)

    async def scenario() -> None:
        runner = Runner(config(tmp_path, url, prefix))
        await turn_until(runner, lambda: committed(runner) == path.stat().st_size, what="file committed")
        await runner.aclose()

    try:
        asyncio.run(scenario())
        assert db7.xlen(f"{prefix}:ticks:ESH24") > 0
        assert db0.exists(f"{prefix}:ticks:ESH24", f"{prefix}:offsets") == 0
        with LiveCache(url, prefix) as cache:
            assert_redis_matches_file(cache, path, "ESH24")
    finally:
        keys = list(db7.scan_iter(f"{prefix}:*"))
        if keys:
            db7.delete(*keys)
        db7.close()
        db0.close()


def test_memory_does_not_grow_with_the_records_read(tmp_path, prefix):
    """Python-heap (numpy included) after 40k records vs after 240k: no per-record state is kept."""
    import gc
    import tracemalloc

    path = tmp_path / "ESH24.scid"
    rec = records("ESH24", 240_000, seed=97, first_day=date(2024, 3, 4), days=6)
    write_scid(path, rec[:40_000])

    def heap() -> int:
        gc.collect()
        return tracemalloc.get_traced_memory()[0]

    async def scenario() -> tuple[int, int, int]:
        runner = Runner(config(tmp_path, SHARED_REDIS, prefix, stream_maxlen=1_000, heartbeat_every_s=3600.0))
        await turn_until(runner, lambda: committed(runner) == path.stat().st_size, what="first 40k")
        before = heap()
        for lo in range(40_000, len(rec), 40_000):
            write_scid(path, rec[lo:lo + 40_000], append=True)
            await turn_until(runner, lambda: committed(runner) == path.stat().st_size, what=f"records to {lo}")
        after = heap()
        closed = runner.feeds["ESH24"].pipeline.closed_count["1m"]
        await runner.aclose()
        return before, after, closed

    tracemalloc.start()
    try:
        before, after, closed = asyncio.run(scenario())
    finally:
        tracemalloc.stop()
    assert closed > 2_000  # six days of 1m bars went through
    # 200k more records are 8 MB on disk and far more as Python objects: none of it is held
    assert after - before < 1_000_000, (before, after)


def test_records_with_an_invalid_time_never_reach_redis_and_are_counted_and_logged_once(tmp_path, prefix, caplog):
    valid = records("ESH24", 3_000, seed=91, first_day=date(2024, 3, 7), days=1)
    bad_dts = [np.iinfo(np.int64).min, np.iinfo(np.int64).max, np.array(1e300).view(np.int64)]  # last: legacy f64
    dirty, at = [], [400, 1_300, 2_600]
    for i, chunk in enumerate(np.split(valid, at)):
        dirty.append(chunk)
        if i < len(at):
            bad = chunk[-1:].copy()
            bad["dt"] = bad_dts[i]
            dirty.append(bad)
    path = tmp_path / "ESH24.scid"
    write_scid(path, np.concatenate(dirty))
    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    write_scid(clean_dir / "ESH24.scid", valid)
    bad_offsets = {56 + (a + k) * 40 for k, a in enumerate(at)}
    caplog.set_level(logging.WARNING)

    async def scenario() -> Runner:
        runner = Runner(config(tmp_path, SHARED_REDIS, prefix, read_chunk=100))
        await turn_until(runner, lambda: committed(runner) == path.stat().st_size, what="the whole file")
        await runner.aclose()
        return runner

    runner = asyncio.run(scenario())
    assert runner.metrics.registry.get_sample_value(
        "marketdata_sidecar_invalid_records_total", {"instrument": "ESH24"}) == 3
    assert sum("invalid time" in r.getMessage() and "ESH24.scid" in r.getMessage() for r in caplog.records) == 1
    expected = batch_ticks(clean_dir / "ESH24.scid", "ESH24")
    with LiveCache(SHARED_REDIS, prefix) as cache:
        live = cache.ticks("ESH24", n=len(expected) + 1000)
        columns = [c for c in TICK_COLUMNS if c != "source_offset"]
        assert len(live) == len(expected)
        pd.testing.assert_frame_equal(live[columns], expected[columns].reset_index(drop=True), check_dtype=False)
        assert not bad_offsets & set(live["source_offset"])
        for tf in ("1m", "1h"):
            bars = cache.bars("ESH24", tf, n=10_000, include_forming=True)
            assert bars["ts"].dt.year.between(2024, 2024).all()
            pd.testing.assert_frame_equal(bars[EXACT_BAR_COLUMNS], batch_bars(expected, "ESH24", tf)[EXACT_BAR_COLUMNS],
                                          check_dtype=False)
