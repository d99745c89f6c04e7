"""Hub messages journaled by the sidecar (a subprocess) reach Redis, ``raw_ticks`` and
``depth_events`` exactly once across a kill -9 (and the line it tore) and a restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import httpx

from marketdata_assets.defs.live.journal import live_ticks
from marketdata_assets.defs.partitions import instrument_partitions, key_for
from marketdata_assets.defs.quality.assets import validated_ticks
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.pipelines.bars import replay_partition
from marketdata_assets.pipelines.live import decode_journal
from marketdata_assets.sources.projectx.journal import read_journal
from marketdata_assets.sources.sierra.scid import KIND_BAR, read_scid
from marketdata_assets.storage.live_reader import LiveCache
from marketdata_assets.storage.warehouse import open_warehouse
from marketdata_assets.testkit.fakegateway import FakeGateway
from marketdata_assets.testkit.fakegateway.feed import FeedClock

from .conftest import API_KEY

REDIS = "redis://127.0.0.1:6379/0"
REPO = Path(__file__).resolve().parents[2]
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
DAY = "2024-11-04"



def _wait(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _records(path: Path) -> int:
    return max(0, (path.stat().st_size - 56) // 40) if path.exists() else 0


def _replay(instance, url, selection=(live_ticks,), config=None):
    return dg.materialize(list(selection), partition_key=key_for(DAY, "ESZ24"), instance=instance,
                          resources={"warehouse": WarehouseResource(url=url), "sierra": SierraResource()},
                          run_config={**QUIET, **(config or {})})


def test_journal_replays_into_raw_ticks_exactly_once_across_kill_9(tmp_path, prefix, monkeypatch, warehouse_url):
    journal_dir = tmp_path / "journal"
    journal = journal_dir / "projectx" / "ESZ24.jsonl"
    feed = journal_dir / "projectx" / "ESZ24.scid"       # the tick feed the sidecar derives and tails
    with FakeGateway(feed=FeedClock(datetime(2024, 11, 4, 15, tzinfo=UTC), speed=60.0)) as server, \
            dg.instance_for_test() as instance:
        env = {**os.environ, **server.settings_env(), "MARKETDATA_PROJECTX_USERNAME": "px-user",
               "MARKETDATA_PROJECTX_API_KEY": API_KEY, "MARKETDATA_JOURNAL_DIR": str(journal_dir),
               "MARKETDATA_REDIS_URL": REDIS, "MARKETDATA_REDIS_PREFIX": prefix, "MARKETDATA_SIDECAR_PORT": "0",
               "MARKETDATA_SIDECAR_POLL_MS": "10"}
        monkeypatch.setenv("MARKETDATA_JOURNAL_DIR", str(journal_dir))
        instance.add_dynamic_partitions(instrument_partitions.name, ["ESZ24"])
        log = open(tmp_path / "sidecar.log", "ab")  # noqa: SIM115
        cmd = [sys.executable, "-m", "marketdata_assets.sidecar", "--projectx", "ESZ24", "--log-level", "DEBUG"]
        first = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait(lambda: _records(feed) > 30, what="journaled hub ticks")  # 31+ before, 10+ after: > 40
            assert _replay(instance, warehouse_url).success          # replay while the sidecar writes
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            with open(journal, "ab") as fh:
                fh.write(b'{"rt":1,"type":1,"target')                 # the line a crash tore (24 bytes)
            assert _replay(instance, warehouse_url).success          # replay after the crash
            torn_size = journal.stat().st_size
            port = _free_port()
            second = subprocess.Popen(cmd, cwd=REPO, env={**env, "MARKETDATA_SIDECAR_PORT": str(port),
                                                          "MARKETDATA_SIDECAR_TOKEN": "tok"},
                                      stdout=log, stderr=subprocess.STDOUT)
            fed = _records(feed)
            _wait(lambda: journal.stat().st_size > torn_size + 400 and _records(feed) > fed + 10,
                  what="journaling after the restart")
            auth = {"Authorization": "Bearer tok"}
            health = httpx.get(f"http://127.0.0.1:{port}/health", headers=auth).json()
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", headers=auth).text
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0
        finally:
            for proc in (first, locals().get("second")):
                if proc is not None and proc.poll() is None:
                    proc.kill()
            log.close()
        assert _replay(instance, warehouse_url).success              # and once more at the end
        validated = _replay(instance, warehouse_url, (validated_ticks,),
                            {"ops": {"validated_ticks": {"config": {"great_expectations": False}}}})
        decoded = decode_journal(journal)
        written, fed_records = decoded.records, read_scid(feed).records
        with open_warehouse(warehouse_url) as wh:
            raw = wh.read("raw_ticks", {"instrument": "ESZ24", "trading_date": DAY}, order_by=("source_offset",))
            kept = wh.count("ticks", {"instrument": "ESZ24", "trading_date": DAY}) + wh.count(
                "base_bars", {"instrument": "ESZ24", "trading_date": DAY})   # the restart's backfilled seconds
            quarantined = wh.count("quarantine", {"instrument": "ESZ24", "trading_date": DAY})
            depth = wh.read("depth_events", {"instrument": "ESZ24", "trading_date": DAY}, order_by=("seq",))
            book, _ = replay_partition(wh, "ESZ24", DAY, origin="projectx", snapshot_us=1)
        with LiveCache(REDIS, prefix) as cache:
            in_redis = cache.ticks("ESZ24", n=1_000_000)
        sidecar_log = (tmp_path / "sidecar.log").read_text(errors="replace")
    entries = read_journal(journal).entries
    assert journal.read_bytes().endswith(b"\n") and b'"target{' not in journal.read_bytes()  # the torn line was cut
    assert health["projectx"]["journal_torn_bytes"] == {"ESZ24": 24}
    # the restart left a hole (the feed ran on at 60x while no sidecar listened): filled, journaled
    assert [e["sidecar"] for e in entries if "sidecar" in e] == ["start", "connected", "start", "connected",
                                                                  "backfill"]
    (fill,) = [e for e in entries if e.get("sidecar") == "backfill"]
    assert fill["error"] is None and fill["skipped"] is None and len(fill["bars"]) > 0
    assert (raw["kind"] == KIND_BAR).sum() > 0 and health["projectx"]["backfills"][0]["cause"] == "restart"
    assert len(raw) == len(written) == len(fed_records) > 40
    assert raw["ts"].is_unique and raw["ts"].tolist() == written["ts"].tolist() == fed_records["ts"].tolist()
    assert raw["source_offset"].tolist() == list(range(len(raw)))
    assert set(raw["source"]) == {"projectx:ESZ24"}
    # Redis too: every tick exactly once (backfilled seconds are bar records, not ticks)
    assert len(in_redis) == int((written["kind"] != KIND_BAR).sum()) and in_redis["ts"].is_unique
    # depth: every GatewayDepth entry once, the gateway's code kept, and the book rebuilt from
    # them shows, after each hub message, the best bid/ask of the quote sent with it
    assert len(depth) == len(decoded.depth) > 40 and depth["seq"].tolist() == list(range(len(depth)))
    assert set(depth["origin"]) == {"projectx"} and set(depth["source_code"]) >= {1, 2, 5, 6}
    quotes, expected = None, []
    for e in entries:
        if e.get("target") == "GatewayQuote":
            quotes = (e["arguments"][1]["bestBid"], e["arguments"][1]["bestAsk"])
        elif e.get("target") == "GatewayDepth":
            expected.append(quotes)
    assert list(zip(book.batches["bid"], book.batches["ask"], strict=True)) == expected
    assert not book.missing.any()
    assert validated.success and kept + quarantined == len(raw)
    assert API_KEY not in sidecar_log and "access_token" not in sidecar_log
    px = health["projectx"]
    assert px["connections"] == 1 and px["stalls"] == 0 and px["contracts"] == {"CON.F.US.EP.Z24": "ESZ24"}
    assert "marketdata_sidecar_projectx_reconnects 0.0" in metrics and "marketdata_sidecar_projectx_stalled" in metrics
