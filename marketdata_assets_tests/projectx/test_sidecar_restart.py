"""A sidecar restart leaves a hole in the hub feed (the hub does not replay): the new process
fills it from ``retrieveBars`` like a reconnect gap, journaled so the replay fills the same."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pandas as pd

from marketdata_assets.pipelines.live import decode_journal
from marketdata_assets.sources.projectx.decode import HubDecoder
from marketdata_assets.sources.projectx.journal import read_journal
from marketdata_assets.sources.sierra.scid import KIND_BAR, read_scid
from marketdata_assets.storage.live_reader import LiveCache
from marketdata_assets.testkit.fakegateway import FakeGateway, market
from marketdata_assets.testkit.fakegateway.feed import FeedClock

from .test_sidecar_hub import ES, FEED_START, REDIS, _config, _equal_to_gateway, _run_sidecar


def _run_twice(tmp_path, prefix, projectx_env, down_s: float, **env) -> tuple[list, list]:
    with FakeGateway(feed=FeedClock(FEED_START, speed=40.0)) as server:
        projectx_env(server, **env)
        first = asyncio.run(_run_sidecar(_config(tmp_path, prefix), 3.0))
        time.sleep(down_s)                                    # the feed runs on while no sidecar listens
        second = asyncio.run(_run_sidecar(_config(tmp_path, prefix), 4.0))
    return first.backfills, second.backfills


def test_a_restart_gap_is_backfilled_with_no_hole_or_double_count_and_replays_the_same(tmp_path, prefix,
                                                                                       projectx_env):
    before, after = _run_twice(tmp_path, prefix, projectx_env, down_s=2.0)   # 2 s at 40x: 80 s of feed
    with LiveCache(REDIS, prefix) as cache:
        bars = cache.bars("ESZ24", "1m")
        ticks = cache.ticks("ESZ24", n=1_000_000)
    expected = market.minutes(ES, FEED_START, datetime(2024, 11, 4, 16, tzinfo=UTC)).set_index("ts")
    entries = read_journal(tmp_path / "ESZ24.jsonl").entries
    (fill,) = after
    assert before == [] and fill["cause"] == "restart" and fill["skipped"] is None and fill["error"] is None
    assert fill["bars"] > 0 and fill["volume"] > 0
    assert pd.Timestamp(fill["to"]) - pd.Timestamp(fill["from"]) > pd.Timedelta(seconds=60)
    assert [e["sidecar"] for e in entries if "sidecar" in e] == ["start", "connected", "start", "connected",
                                                                  "backfill"]
    lo, hi = pd.Timestamp(fill["from"]).floor("min"), pd.Timestamp(fill["to"]).ceil("min")
    across = bars[(bars["ts"] >= lo) & (bars["ts"] <= hi)]
    assert len(across) >= 2 and _equal_to_gateway(bars, expected) >= 3   # the minutes of the hole included
    replayed = decode_journal(tmp_path / "ESZ24.jsonl").records            # the replay fills identically
    fed = read_scid(tmp_path / "ESZ24.scid").records
    assert len(replayed) == len(fed) and (replayed["kind"] == KIND_BAR).sum() == fill["bars"]
    assert replayed["ts"].tolist() == fed["ts"].tolist() and replayed["close"].tolist() == fed["close"].tolist()
    assert len(ticks) == int((fed["kind"] != KIND_BAR).sum()) and ticks["ts"].is_unique   # each tick once (bars: the fill)


def test_a_restart_within_the_stall_threshold_releases_the_held_messages_unfilled(tmp_path, prefix, projectx_env):
    _, after = _run_twice(tmp_path, prefix, projectx_env, down_s=0.0, MARKETDATA_PROJECTX_STALL_SECONDS="600")
    (fill,) = after
    assert fill["cause"] == "restart" and fill["skipped"] == "gap not longer than 600 s" and fill["bars"] == 0
    replayed = decode_journal(tmp_path / "ESZ24.jsonl").records
    fed = read_scid(tmp_path / "ESZ24.scid").records
    assert (replayed["kind"] == KIND_BAR).sum() == 0 and replayed["ts"].tolist() == fed["ts"].tolist()


def test_a_start_without_restart_gap_keeps_the_old_journals_meaning():
    """Journals written before restart gaps existed decode as they did (a plain ``start``)."""
    trade = {"rt": 1, "type": 1, "target": "GatewayTrade", "arguments": ["C", {
        "price": 5000.0, "timestamp": "2024-11-04T15:00:01+00:00", "type": 0, "volume": 2}]}
    later = {**trade, "arguments": ["C", {**trade["arguments"][1], "timestamp": "2024-11-04T15:05:01+00:00"}]}
    old, new = HubDecoder(), HubDecoder()
    for d, start in ((old, {"sidecar": "start"}), (new, {"sidecar": "start", "restart_gap": True})):
        d.decode(start)
        d.decode(trade)
        d.decode(start)
    assert old.gap is None and len(old.decode(later).records) == 1
    assert new.gap is not None and new.gap.restart and new.decode(later).held


def test_a_gap_the_last_process_died_holding_is_filled_before_the_new_start(tmp_path, prefix, projectx_env):
    from marketdata_assets.sources.projectx.journal import HubJournal

    def trade(stamp: str, size: int) -> dict:
        return {"rt": 1, "type": 1, "target": "GatewayTrade", "arguments": [ES.id, [
            {"symbolId": "F.US.EP", "price": 5000.0, "timestamp": stamp, "type": 0, "volume": size}]]}

    journal = HubJournal(tmp_path / "ESZ24.jsonl")       # a process that crashed with a reconnect gap open
    for e in [{"rt": 1, "sidecar": "start"}, {"rt": 1, "sidecar": "connected", "connection": 1},
              trade("2024-11-04T14:58:01+00:00", 2), {"rt": 1, "sidecar": "connected", "connection": 2},
              trade("2024-11-04T14:59:00.5+00:00", 3)]:
        journal.append(e)
    journal.close()
    held = HubDecoder()
    for e in read_journal(tmp_path / "ESZ24.jsonl").entries:
        held.decode(e)
    assert held.gap is not None and len(held.gap.held) == 1
    with FakeGateway(feed=FeedClock(FEED_START, speed=40.0)) as server:
        projectx_env(server)
        source = asyncio.run(_run_sidecar(_config(tmp_path, prefix), 3.0))
    entries = read_journal(tmp_path / "ESZ24.jsonl").entries
    assert [e["sidecar"] for e in entries if "sidecar" in e] == ["start", "connected", "connected", "backfill",
                                                                  "start", "connected", "backfill"]
    assert [(b["cause"], b["skipped"], b["error"]) for b in source.backfills] == [("reconnect", None, None),
                                                                                 ("restart", None, None)]
    replayed = decode_journal(tmp_path / "ESZ24.jsonl").records
    fed = read_scid(tmp_path / "ESZ24.scid").records
    assert replayed["ts"].tolist() == fed["ts"].tolist() and replayed["total_volume"].tolist() == \
        fed["total_volume"].tolist()
    held_at = pd.Timestamp("2024-11-04T14:59:00.5", tz="UTC")
    assert ((fed["ts"] == held_at) & (fed["total_volume"] == 3)).sum() == 1   # the held trade, released once
