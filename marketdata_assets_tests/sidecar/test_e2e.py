"""The sidecar as a process: a writer appends to ``.scid`` files while it runs.

Assertions are on data only (every tick once, bars and indicators equal to the batch
path); waits poll with generous deadlines, so a slow machine makes a test slower, not red.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import date

import pytest

from marketdata_assets.storage.live_reader import LiveCache
from marketdata_assets.testkit.sierra_sample import write_scid

from .conftest import REPO, SHARED_REDIS, wait_for
from .expected import assert_redis_matches_file
from .writer import records

pytestmark = pytest.mark.xdist_group("sidecar-e2e")


def http_get(port: int, path: str, token: str | None = "s3cret") -> tuple[int, str]:
    """GET with the token the ``sidecars`` fixture configures by default (None: without one)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers),
                                    timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def wait_caught_up(cache: LiveCache, path, instrument: str, timeout: float = 90.0) -> None:
    size = path.stat().st_size
    wait_for(lambda: cache.offsets().get(instrument) == size, timeout, what=f"{instrument} offset {size}")


def test_sidecar_never_imports_dagster():
    code = ("import sys, marketdata_assets.sidecar.__main__, marketdata_assets.sidecar.runner, "
            "marketdata_assets.bench.sidecar, marketdata_assets.sidecar.depth, "
            "marketdata_assets.storage.live_keys, marketdata_assets.storage.live_codec, "
            "marketdata_assets.storage.live_reader, marketdata_assets.storage.live_book; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'great_expectations')); "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


def test_every_tick_once_and_bars_equal_batch_while_files_grow(tmp_path, prefix, sidecars, writers):
    data = tmp_path / "data"
    data.mkdir()
    car = sidecars(data, SHARED_REDIS, prefix).start()
    es = writers(data, instrument="ESH24", rate=10_000, seconds=4, seed=11)
    cl = writers(data, instrument="CLJ24", rate=1_000, seconds=4, seed=12)
    status, body = wait_for(lambda: (lambda r: r if r[0] == 200 and "ESH24" in r[1] else None)(
        http_get(car.port, "/health")), 60, what="/health 200 listing ESH24")
    assert json.loads(body)["redis"]["connected"] is True
    assert es.wait(60) == 0 and cl.wait(60) == 0

    with LiveCache(SHARED_REDIS, prefix) as cache:
        for inst in ("ESH24", "CLJ24"):
            wait_caught_up(cache, data / f"{inst}.scid", inst)
            assert_redis_matches_file(cache, data / f"{inst}.scid", inst)
        assert cache.heartbeat()["status"] == "running"
        assert cache.last_quote("ESH24")["bid"] > 0

    status, body = http_get(car.port, "/health")
    health = json.loads(body)
    assert status == 200
    assert health["instruments"]["ESH24"]["offset"] == (data / "ESH24.scid").stat().st_size
    status, text = http_get(car.port, "/metrics")
    assert status == 200
    assert 'marketdata_sidecar_ticks_in_total{instrument="ESH24"} 40000.0' in text
    assert 'marketdata_sidecar_ticks_out_total{instrument="ESH24"} 40000.0' in text
    assert "marketdata_sidecar_lag_seconds_bucket" in text and "marketdata_sidecar_rss_bytes" in text
    assert 'marketdata_sidecar_late_trades{instrument="CLJ24"} 0.0' in text  # exported even when none is late


@pytest.mark.slow
def test_ten_seconds_at_ten_thousand_ticks_per_second(tmp_path, prefix, sidecars, writers):
    data = tmp_path / "data"
    data.mkdir()
    sidecars(data, SHARED_REDIS, prefix).start()
    assert writers(data, instrument="ESH24", rate=10_000, seconds=10, seed=21, days=3).wait(90) == 0
    with LiveCache(SHARED_REDIS, prefix) as cache:
        wait_caught_up(cache, data / "ESH24.scid", "ESH24")
        assert_redis_matches_file(cache, data / "ESH24.scid", "ESH24")


def test_sigkill_and_restart_lose_and_duplicate_nothing(tmp_path, prefix, sidecars, writers):
    data = tmp_path / "data"
    data.mkdir()
    path = data / "ESH24.scid"
    writer = writers(data, instrument="ESH24", rate=10_000, seconds=5, seed=31)
    with LiveCache(SHARED_REDIS, prefix) as cache:
        for progress in (8_000, 24_000):  # records committed before each SIGKILL
            car = sidecars(data, SHARED_REDIS, prefix).start()
            wait_for(lambda p=progress: (cache.offsets().get("ESH24") or 0) >= 56 + 40 * p, 60,
                     what=f"{progress} records committed")
            car.signal(signal.SIGKILL)
            car.wait(10)
        sidecars(data, SHARED_REDIS, prefix).start()
        assert writer.wait(60) == 0
        wait_caught_up(cache, path, "ESH24")
        assert_redis_matches_file(cache, path, "ESH24")


def test_redis_stall_and_restart_lose_and_duplicate_nothing(tmp_path, prefix, sidecars, writers, private_redis):
    server = private_redis()
    server.start()
    data = tmp_path / "data"
    data.mkdir()
    path = data / "ESH24.scid"
    car = sidecars(data, server.url, prefix).start()
    writer = writers(data, instrument="ESH24", rate=10_000, seconds=5, seed=41)
    with LiveCache(server.url, prefix) as cache:
        wait_for(lambda: (cache.offsets().get("ESH24") or 0) >= 56 + 40 * 5_000, 60, what="first commits")
        server.pause()            # a stalled Redis: commands hang, then go through
        time.sleep(1.5)
        server.resume()
        wait_for(lambda: (cache.offsets().get("ESH24") or 0) >= 56 + 40 * 20_000, 60, what="commits after stall")
        server.kill()             # Redis dies and comes back empty (no persistence)
        time.sleep(1.0)
        server.start()
        assert writer.wait(60) == 0
        wait_caught_up(cache, path, "ESH24")
        assert_redis_matches_file(cache, path, "ESH24")
    status, text = http_get(car.port, "/metrics")
    assert status == 200
    assert "marketdata_sidecar_redis_errors_total" in text
    assert 'marketdata_sidecar_resets_total{reason="redis_state_' in text  # it noticed the empty Redis


def test_sigterm_drains_commits_offsets_and_exits_zero(tmp_path, prefix, sidecars):
    data = tmp_path / "data"
    data.mkdir()
    path = data / "ESH24.scid"
    rec = records("ESH24", 20_000, seed=51, first_day=date(2024, 3, 7), days=2)
    write_scid(path, rec[:12_000])
    car = sidecars(data, SHARED_REDIS, prefix).start()
    with LiveCache(SHARED_REDIS, prefix) as cache:
        wait_caught_up(cache, path, "ESH24")
        write_scid(path, rec[12_000:], append=True)
        car.signal(signal.SIGTERM)
        assert car.wait(60) == 0, car.log()
        assert cache.offsets()["ESH24"] == path.stat().st_size == 56 + 40 * len(rec)
        assert cache.heartbeat()["status"] == "stopped"
        assert_redis_matches_file(cache, path, "ESH24")
    assert "stopped; offsets" in car.log()
