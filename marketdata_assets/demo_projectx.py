"""The ProjectX part of ``make demo``: a multi-week ``projectx_bars`` backfill against the
local fake gateway, paged across the 20,000-bar cap, then the newest date through
``validated_bars`` → ``ohlc_bars`` → ``indicators``; then (when Redis is reachable) a short
live session through the sidecar with one forced hub drop and one stall, ``live_ticks``
replaying its journal (then ``validated_ticks``, so the partition shows in the demo's
reconciliation table), and the live 1m bars compared with the batch bars.

The fake gateway runs on a free 127.0.0.1 port with placeholder credentials (the demo never
talks to the real gateway); the backfill is one run, as a bootstrap would be.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

DEMO_INSTRUMENT = "ESZ24"
DEMO_FIRST, DEMO_LAST = "2024-10-07", "2024-11-01"   # four CME weeks: ~27,600 1m bars, two pages


@contextmanager
def fake_gateway_env():
    from marketdata_assets.testkit.fakegateway import FakeGateway

    with FakeGateway(port=0) as server:
        env = {**server.settings_env(), "MARKETDATA_PROJECTX_USERNAME": "demo",
               "MARKETDATA_PROJECTX_API_KEY": "demo-key"}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield server
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def run_projectx_demo(instance, resources: dict, quiet: dict) -> tuple[list[str], dict]:
    """Materialize the ProjectX path; returns (failed steps, summary figures)."""
    import dagster as dg

    from marketdata_assets.definitions import PROJECTX_ASSETS, QUALITY_ASSETS, build_defs
    from marketdata_assets.defs.bars.assets import ohlc_bars
    from marketdata_assets.defs.features.assets import indicators
    from marketdata_assets.defs.partitions import instrument_partitions, key_for

    failed, figures = [], {}
    with fake_gateway_env() as gateway:
        instance.add_dynamic_partitions(instrument_partitions.name, [DEMO_INSTRUMENT])
        backfill = build_defs().resolve_job_def("projectx_bootstrap").execute_in_process(
            instance=instance, resources=resources, raise_on_error=False, run_config=quiet,
            tags={"dagster/asset_partition_range_start": str(key_for(DEMO_FIRST, DEMO_INSTRUMENT)),
                  "dagster/asset_partition_range_end": str(key_for(DEMO_LAST, DEMO_INSTRUMENT))})
        if not backfill.success:
            failed.append(f"projectx_bars {DEMO_FIRST}..{DEMO_LAST}|{DEMO_INSTRUMENT}")
        else:
            meta = backfill.asset_materializations_for_node("projectx_bars")[0].metadata
            figures = {"bars": meta["dagster/row_count"].value, "retrieveBars calls":
                       meta["retrieve_bars_calls"].value, "seconds": meta["seconds"].value}
            chain = dg.materialize([*QUALITY_ASSETS, ohlc_bars, indicators, *PROJECTX_ASSETS],
                                   selection=["validated_bars", "ohlc_bars", "indicators"],
                                   partition_key=str(key_for(DEMO_LAST, DEMO_INSTRUMENT)), instance=instance,
                                   resources=resources, raise_on_error=False,
                                   # the Sierra part already shows the GX audit: skip its import cost here
                                   run_config={**quiet, "ops": {"validated_bars": {"config": {
                                       "great_expectations": False}}}})
            if not chain.success:
                failed.append(f"{DEMO_LAST}|{DEMO_INSTRUMENT} downstream")
        figures["gateway requests"] = len(gateway.requests())
    return failed, figures


LIVE_START = "2024-11-01T14:00:00+00:00"   # inside DEMO_LAST's session, so batch bars exist to compare
LIVE_SPEED = 120.0                          # two feed minutes per wall second
LIVE_MINUTES = 4                            # feed minutes streamed: 3+ closed 1m bars to compare
LIVE_STALL_S = "1"                          # MARKETDATA_PROJECTX_STALL_SECONDS for the session
STEP_TIMEOUT_S = 20.0


def _redis_up(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        client.ping()
        client.close()
        return True
    except (redis.RedisError, OSError):
        return False


async def _until(predicate, timeout: float = STEP_TIMEOUT_S) -> bool:
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def _live_session(cfg, server) -> dict:
    """The sidecar (in this process) fed by the hub: a forced drop as soon as trades flow, a
    stall once its gap is filled, and on until LIVE_MINUTES feed minutes have streamed.
    Each step waits for what it needs (no fixed sleeps); a step that does not happen within
    STEP_TIMEOUT_S moves on, and the checks after the session report it."""
    import asyncio

    from marketdata_assets.settings import get_settings
    from marketdata_assets.sidecar.projectx import ProjectXInput
    from marketdata_assets.sidecar.runner import Runner

    runner = Runner(cfg)
    source = ProjectXInput(get_settings(), cfg.projectx, cfg.data_dir, kick=runner.watcher.kick)
    tasks = [asyncio.create_task(runner.run()), asyncio.create_task(source.run())]
    try:
        await _until(lambda: source.messages["trade"] >= 3 and source.last_message_us is not None)
        first_minute = source.last_message_us // 60_000_000
        server.set_fault("hub", "drop", count=1)
        await _until(lambda: len(source.backfills) >= 1)
        server.set_fault("hub", "stall", delay_s=60, count=1)
        await _until(lambda: source.stalls >= 1 and len(source.backfills) >= 2)
        await _until(lambda: source.last_message_us // 60_000_000 >= first_minute + LIVE_MINUTES)
    finally:
        tasks[1].cancel()
        await asyncio.gather(tasks[1], return_exceptions=True)
        runner.stop()
        await asyncio.wait_for(tasks[0], 30)
        source.close()
    return source.status()


def run_live_demo(instance, resources: dict, quiet: dict) -> tuple[list[str], dict]:
    """A short live session through the sidecar, then ``live_ticks``; compares live and batch bars."""
    import asyncio
    from datetime import datetime

    import dagster as dg

    from marketdata_assets.defs.live.journal import live_ticks
    from marketdata_assets.defs.partitions import key_for
    from marketdata_assets.defs.quality.assets import validated_ticks
    from marketdata_assets.settings import Secret, get_settings
    from marketdata_assets.sidecar.config import SidecarConfig
    from marketdata_assets.storage.live_reader import LiveCache
    from marketdata_assets.storage.warehouse import open_warehouse
    from marketdata_assets.testkit.fakegateway import FakeGateway
    from marketdata_assets.testkit.fakegateway.feed import FeedClock

    settings = get_settings()
    if not _redis_up(settings.redis_url):
        return [], {"skipped": f"no Redis at {settings.redis_url}"}
    prefix, journal_dir = "demo-projectx", settings.journal_dir / "projectx"
    for suffix in (".scid", ".jsonl"):   # the tick feed and the hub journal of an earlier demo
        (journal_dir / f"{DEMO_INSTRUMENT}{suffix}").unlink(missing_ok=True)
    with LiveCache(settings.redis_url, prefix) as cache:
        stale = list(cache.redis.scan_iter(f"{prefix}:*"))
        if stale:
            cache.redis.delete(*stale)
    cfg = SidecarConfig(data_dir=journal_dir, instruments=(DEMO_INSTRUMENT,), instrument_markets={},
                        redis_url=settings.redis_url, prefix=prefix, host="127.0.0.1", port=0, token=Secret(None),
                        poll_ms=10, buffer_max=200_000, stream_maxlen=1_000_000, bars_kept=5000, heartbeat_stale_s=30,
                        projectx=(DEMO_INSTRUMENT,))
    journal_dir.mkdir(parents=True, exist_ok=True)
    with FakeGateway(feed=FeedClock(datetime.fromisoformat(LIVE_START), LIVE_SPEED)) as server:
        env = {**server.settings_env(), "MARKETDATA_PROJECTX_STALL_SECONDS": LIVE_STALL_S,
               "MARKETDATA_PROJECTX_USERNAME": "demo", "MARKETDATA_PROJECTX_API_KEY": "demo-key"}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            status = asyncio.run(_live_session(cfg, server))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    replay = dg.materialize([live_ticks, validated_ticks], partition_key=key_for(DEMO_LAST, DEMO_INSTRUMENT),
                            instance=instance, resources=resources, raise_on_error=False,
                            run_config={**quiet, "ops": {"validated_ticks": {"config": {"great_expectations": False}}}})
    with LiveCache(settings.redis_url, prefix) as cache:
        live = cache.bars(DEMO_INSTRUMENT, "1m")
    with open_warehouse(settings.warehouse_url) as wh:
        batch = wh.read("ohlc_bars", {"instrument": DEMO_INSTRUMENT, "timeframe": "1m", "origin": "provider"})
        replayed = wh.count("raw_ticks", {"instrument": DEMO_INSTRUMENT, "trading_date": DEMO_LAST})
    live = live[live["ts"] > live["ts"].min()]  # the first minute began before the subscription
    cols = ["open", "high", "low", "close", "volume"]
    joined = live.merge(batch, on="ts", suffixes=("_live", "_batch"))
    equal = all((joined[f"{c}_live"] == joined[f"{c}_batch"]).all() for c in cols) and len(joined) == len(live)
    journaled = sum(status["journal_records"].values())
    figures = {"live 1m bars": len(live), "equal to batch": equal, "reconnects": status["reconnects"],
               "stalls": status["stalls"], "backfilled seconds": status["backfilled_seconds"],
               "journaled records": journaled, "live_ticks rows": replayed}
    failed = []
    if not replay.success:
        failed.append(f"live_ticks / validated_ticks {DEMO_LAST}|{DEMO_INSTRUMENT}")
    if not equal or not len(live):
        failed.append("live bars differ from batch bars")
    if replayed != journaled:
        failed.append(f"live_ticks has {replayed} rows for {journaled} journaled records")
    if status["reconnects"] < 2 or status["stalls"] < 1:
        failed.append("the forced hub drop / stall did not show")
    return failed, figures
