"""The sidecar's provider loop against the fake providers (live clock) and the real Redis.

Time is a simulated clock shared by the fake server (what it can serve: nothing after
``now``, the current minute forming) and the loop (bar times, limiters, breakers), advanced
by the tests between cycles: no wall-clock waits or assertions.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request
from datetime import UTC, date, datetime

import numpy as np
import pytest
import redis
import redis.asyncio
from prometheus_client import generate_latest

from marketdata_assets.settings import get_settings
from marketdata_assets.sidecar.provider_journal import read_journal
from marketdata_assets.sidecar.provider_publish import src_key
from marketdata_assets.sidecar.providers import ProviderLoop, combined_status
from marketdata_assets.storage.live_keys import Keys
from marketdata_assets.storage.live_reader import LiveCache
from marketdata_assets.testkit.fakeproviders import FakeProviders
from marketdata_assets.testkit.fakeproviders.generator import minute_bars, profile_for

from ..providers.helpers import FAKE_KEYS

FRIDAY = datetime(2024, 11, 22, 15, 30, 10, tzinfo=UTC).timestamp()  # NASDAQ and FX open
SATURDAY = datetime(2024, 11, 23, 15, 0, 10, tzinfo=UTC).timestamp()  # both closed


class SimClock:
    def __init__(self, start: float):
        self.t, self.m = start, 10_000.0

    def time(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.m

    def advance(self, seconds: float) -> None:
        self.t += seconds
        self.m += seconds


@pytest.fixture
def sim() -> SimClock:
    return SimClock(FRIDAY)


@pytest.fixture
def live(sim):
    with FakeProviders(port=0, clock=sim.time) as server:
        yield server


@pytest.fixture
def make_loop(live, sim, prefix, redis_url, tmp_path, monkeypatch):
    loops = []

    def make(instruments=("AAPL",), bars_kept=300, url=None, **env):
        base = {**live.settings_env(), **FAKE_KEYS, "MARKETDATA_BREAKER_FAILURES": "2",
                "MARKETDATA_BREAKER_COOLDOWN_S": "5"}
        base.update({f"MARKETDATA_{p}_RATE_LIMIT": "1000" for p in ("YAHOO", "ALPHAVANTAGE", "TWELVEDATA", "POLYGON")})
        for key, value in {**base, **env}.items():
            monkeypatch.setenv(key, str(value))
        loop = ProviderLoop(tuple(instruments), get_settings(), redis_url=url or redis_url, prefix=prefix, interval_s=0.1,
                            bars_kept=bars_kept, clock=sim, journal_root=tmp_path / "journal")
        loops.append(loop)
        return loop

    yield make
    for loop in loops:
        loop.pool.shutdown(wait=True)
        if hasattr(loop, "test_events"):
            loop.test_events.run_until_complete(loop.redis.aclose())
            loop.test_events.close()


def run(loop: ProviderLoop, sim: SimClock, cycles: int = 1, step: float = 0.0) -> None:
    """``cycles`` cycles, the clock advanced by ``step`` after each (one event loop per loop object)."""
    async def go():
        for _ in range(cycles):
            await loop.cycle()
            sim.advance(step)
    if not hasattr(loop, "test_events"):
        loop.test_events = asyncio.new_event_loop()
    loop.test_events.run_until_complete(go())


def cache(prefix: str) -> LiveCache:
    return LiveCache("redis://127.0.0.1:6379/0", prefix)


def final_bar(instrument: str, minute_s: int) -> np.ndarray:
    ts, values = minute_bars(profile_for("yahoo", instrument), datetime.fromtimestamp(minute_s, UTC),
                             datetime.fromtimestamp(minute_s + 60, UTC))
    assert ts.tolist() == [minute_s]
    return values[0]


def minute_of(sim: SimClock) -> int:
    return int(sim.time() // 60 * 60)


# -- backfill, forming and closed bars ------------------------------------------------------
def test_empty_redis_is_backfilled_with_the_last_5000_bars_before_polling(make_loop, sim, prefix):
    loop = make_loop(("AAPL",), bars_kept=5000)

    run(loop, sim)

    bars = cache(prefix).bars("AAPL", "1m", 6000)
    assert len(bars) == len(loop.feeds["AAPL"].bars.kept) > 4800  # 5000 open minutes less Yahoo's empty ones
    assert bars["ts"].is_monotonic_increasing and bars["ts"].is_unique
    assert int(bars["ts"].iloc[-1].timestamp()) == minute_of(sim) - 60
    assert cache(prefix).indicators("AAPL", "1m")["rsi_14"] > 0        # warm at once
    assert len(cache(prefix).bars("AAPL", "1h", 500)) > 50


def test_forming_minute_is_replaced_and_closed_once_with_its_final_values(make_loop, sim, prefix):
    loop = make_loop()
    run(loop, sim)
    m = minute_of(sim)

    first = cache(prefix).forming_bar("AAPL", "1m")
    sim.advance(30)
    run(loop, sim)
    second = cache(prefix).forming_bar("AAPL", "1m")
    sim.advance(25)  # m + 65 s: minute m is over
    run(loop, sim)

    assert first["ts"] == second["ts"] == m * 1_000_000
    assert second["volume"] > first["volume"]                       # the later version replaced the first
    closed = cache(prefix).bars("AAPL", "1m", 5)
    assert [int(t.timestamp()) for t in closed["ts"]].count(m) == 1
    last = closed.iloc[-1]
    assert int(last["ts"].timestamp()) == m
    assert [last["open"], last["high"], last["low"], last["close"], last["volume"]] == final_bar("AAPL", m).tolist()
    assert cache(prefix).forming_bar("AAPL", "1m")["ts"] == (m + 60) * 1_000_000


def test_late_correction_of_a_closed_bar_is_applied_and_counted(make_loop, sim, prefix, live, tmp_path):
    loop = make_loop()
    run(loop, sim)
    closed_minute = minute_of(sim) - 60
    bar = final_bar("AAPL", closed_minute)
    live.state.correct("AAPL", closed_minute, close=float(bar[3]) + 0.01, high=float(bar[1]) + 0.01)

    sim.advance(1)
    run(loop, sim)

    last = cache(prefix).bars("AAPL", "1m", 1).iloc[-1]
    assert int(last["ts"].timestamp()) == closed_minute
    assert last["close"] == pytest.approx(bar[3] + 0.01)
    assert loop.status()["instruments"]["AAPL"]["corrections"] == 1
    assert b'marketdata_sidecar_provider_corrections_total{instrument="AAPL"} 1.0' in generate_latest(
        loop.metrics.registry)
    journal = read_journal(tmp_path / "journal", "AAPL", "2024-11-22")
    row = journal[journal["ts_us"] == closed_minute * 1_000_000].iloc[0]
    assert row["kind"] == "correction" and row["close"] == pytest.approx(bar[3] + 0.01)


# -- limits, fallback, recovery ----------------------------------------------------------------
def test_budgets_hold_under_fast_polling_and_the_cycle_says_so(make_loop, sim, live):
    limits = {"YAHOO": 3, "ALPHAVANTAGE": 2, "TWELVEDATA": 2, "POLYGON": 2}
    env = {f"MARKETDATA_{p}_RATE_LIMIT": n for p, n in limits.items()}
    env.update({f"MARKETDATA_{p}_RATE_WINDOW_S": 1 for p in limits})
    loop = make_loop(("AAPL", "NAS100", "EURUSD"), **env)

    run(loop, sim, cycles=30, step=0.1)  # 3 instruments every 0.1 s: 30 asks per second

    for provider, limit in limits.items():
        times = sorted(r["clock"] for r in live.requests(provider.lower()))
        assert times, provider
        for i, t in enumerate(times):  # no window of 1 s holds more than the limit
            assert sum(1 for u in times[i:] if u < t + 1.0) <= limit, provider
    waits = generate_latest(loop.metrics.registry).decode()
    assert 'marketdata_sidecar_provider_rate_limit_waits_total{kind="budget",provider="yahoo"}' in waits
    requests = waits.split("marketdata_sidecar_provider_requests_total")
    assert any('outcome="budget",provider="polygon"' in r for r in requests)  # every budget ran out at times
    assert sum(i["fallbacks"] for i in loop.status()["instruments"].values()) > 0


def test_fallback_then_back_to_the_first_provider_after_its_breaker_closes(make_loop, sim, live):
    loop = make_loop(("AAPL", "NAS100"))
    run(loop, sim)
    live.set_fault("yahoo", "429")

    run(loop, sim, cycles=3, step=0.5)
    during = loop.status()
    live.set_fault("yahoo", "ok")
    sim.advance(5)                      # cooldown over: the next cycle sends the half-open trial
    run(loop, sim, cycles=2, step=0.5)
    after = loop.status()

    assert during["breakers"]["yahoo"]["state"] == "open"
    assert {i["provider"] for i in during["instruments"].values()} == {"alphavantage"}
    assert not any(i["stale"] for i in during["instruments"].values())
    assert after["breakers"]["yahoo"]["state"] == "closed"
    assert {i["provider"] for i in after["instruments"].values()} == {"yahoo"}


def test_provider_switch_inside_a_minute_gives_one_bar_without_a_step(make_loop, sim, live, prefix):
    loop = make_loop(("NAS100",))
    run(loop, sim)                      # m + 10 s: Yahoo's forming version
    m = minute_of(sim)
    live.set_fault("yahoo", "500")
    sim.advance(20)
    run(loop, sim, cycles=2, step=5)   # m + 30, 35: Alpha Vantage's versions
    forming_src = redis.Redis().hget(src_key(Keys(prefix), "NAS100"), "forming")
    sim.advance(30)                     # m + 65: Alpha Vantage closes minute m
    run(loop, sim)

    bars = cache(prefix).bars("NAS100", "1m", 3)
    assert forming_src == b"alphavantage"
    assert bars["ts"].is_unique and int(bars["ts"].iloc[-1].timestamp()) == m
    assert bars["open"].iloc[-1] == bars["close"].iloc[-2]           # no step at the switch
    sources = redis.Redis().hgetall(src_key(Keys(prefix), "NAS100"))
    assert sources[str(m * 1_000_000).encode()] == b"alphavantage"
    assert sources[str((m - 60) * 1_000_000).encode()] == b"yahoo"


def test_fx_bar_without_provider_volume_says_none_instead_of_mixing(make_loop, sim, live, prefix):
    loop = make_loop(("EURUSD",))
    run(loop, sim)
    live.set_fault("yahoo", "500")
    run(loop, sim, cycles=3, step=30)   # Alpha Vantage (no FX volume) serves the next minutes

    c = cache(prefix)
    assert c.bars("EURUSD", "1m", 50)["volume"].isna().all()
    assert c.bars("EURUSD", "5m", 5)["volume"].isna().all()


# -- freshness --------------------------------------------------------------------------------
def test_closed_market_is_not_stale(make_loop, live, prefix):
    live.state.clock = None
    sim = SimClock(SATURDAY)
    live.state.clock = sim.time
    loop = make_loop(("AAPL", "EURUSD"))
    loop.clock = sim
    run(loop, sim)                       # the backfill: Friday's bars
    backfill = len(live.requests())
    run(loop, sim, cycles=3, step=15)

    st = loop.status()["instruments"]
    assert st["AAPL"]["market_open"] is False and st["AAPL"]["stale"] is False
    assert st["EURUSD"]["stale"] is False and st["EURUSD"]["note"] == "market closed: not polled"
    assert st["AAPL"]["bars"] > 200 and loop.ok  # (the fake has no bars on a Saturday UTC, 19:00-20:00 ET)
    assert len(live.requests()) == backfill  # a closed market costs no request


def test_open_market_without_any_serving_provider_goes_stale(make_loop, sim, live):
    loop = make_loop(("AAPL",))
    run(loop, sim)
    live.set_fault("*", "500")

    run(loop, sim, cycles=3, step=4)

    st = loop.status()
    assert st["instruments"]["AAPL"]["stale"] is True
    assert st["instruments"]["AAPL"]["freshness_s"] > 10
    assert "serving what it has" in st["instruments"]["AAPL"]["note"]
    ok, body = combined_status(None, loop)()
    assert ok is False and body["providers"]["breakers"]["yahoo"]["state"] == "open"


# -- Redis restart -------------------------------------------------------------------------------
def test_emptied_redis_is_rebuilt_from_the_kept_bars(make_loop, sim, prefix):
    loop = make_loop(("AAPL",))
    run(loop, sim, cycles=2, step=1)
    before = cache(prefix).bars("AAPL", "1m", 1000)
    client = redis.Redis()
    client.delete(*client.scan_iter(f"{prefix}:*"))

    run(loop, sim)

    after = cache(prefix).bars("AAPL", "1m", 1000)
    assert len(after) == len(before) and after["ts"].tolist() == before["ts"].tolist()
    assert cache(prefix).indicators("AAPL", "1h")
    assert b"marketdata_sidecar_provider_rebuilds_total 1.0" in generate_latest(loop.metrics.registry)


def test_health_and_metrics_report_freshness_provider_breakers_and_latency(make_loop, sim):
    loop = make_loop(("AAPL",))
    run(loop, sim, cycles=4, step=0.5)

    ok, body = combined_status(None, loop)()
    text = generate_latest(loop.metrics.registry).decode()

    assert ok is True
    inst = body["providers"]["instruments"]["AAPL"]
    assert inst["provider"] == "yahoo" and inst["freshness_s"] == 0.5 and inst["stale"] is False
    assert set(body["providers"]["breakers"]) >= {"yahoo", "alphavantage"}
    assert set(body["providers"]["cycle_ms"]) == {"p50", "p95", "p99"}
    assert 'marketdata_sidecar_provider_cycle_quantile_seconds{quantile="0.99"}' in text
    assert 'marketdata_sidecar_provider_requests_total{outcome="served",provider="yahoo"} 4.0' in text
    assert json.dumps(body)  # serializable for /health


# -- warehouse agreement ---------------------------------------------------------------------------
def test_warehouse_and_redis_agree_for_a_finished_day(make_loop, live, prefix, warehouse, tmp_path):
    from marketdata_assets.model.sessions import market_for_instrument
    from marketdata_assets.model.symbol_map import load_symbol_map
    from marketdata_assets.pipelines.providers import load_provider_bars

    sim = SimClock(SATURDAY)
    live.state.clock = sim.time
    loop = make_loop(("AAPL",), bars_kept=2000)
    loop.clock = sim
    run(loop, sim)
    day = date(2024, 11, 22)

    load_provider_bars(warehouse, loop.chain, load_symbol_map(), "AAPL", market_for_instrument("AAPL"), day, "r1")

    raw = warehouse.read("raw_bars", {"instrument": "AAPL", "trading_date": "2024-11-22"}, order_by=("ts",))
    lo, hi = market_for_instrument("AAPL").window_us(day)
    bars = cache(prefix).bars("AAPL", "1m", 2000)
    us = np.array([int(t.timestamp() * 1_000_000) for t in bars["ts"]])
    redis_day = bars[(us >= lo) & (us < hi)].reset_index(drop=True)
    journal = read_journal(tmp_path / "journal", "AAPL", "2024-11-22")
    assert len(raw) == len(redis_day) == len(journal) > 800
    assert raw["ts"].dt.tz_convert("UTC").tolist() == redis_day["ts"].tolist() == journal["ts"].tolist()
    for col in ("open", "high", "low", "close", "volume"):
        assert raw[col].tolist() == redis_day[col].tolist() == journal[col].tolist(), col


def test_provider_loop_never_imports_dagster():
    code = ("import sys, marketdata_assets.sidecar.providers, marketdata_assets.sidecar.provider_journal; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'great_expectations')); "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_sidecar_process_serves_provider_instruments_with_health(tmp_path, prefix, redis_url):
    from .conftest import free_port, wait_for

    port = free_port()
    with FakeProviders(port=0) as fake:
        env = {**os.environ, **fake.settings_env(), **FAKE_KEYS, "MARKETDATA_SIDECAR_TOKEN": "tok",
               "MARKETDATA_VAR_DIR": str(tmp_path), "MARKETDATA_COLLECTION_INTERVAL_S": "0.2",
               "MARKETDATA_SIDECAR_BARS_KEPT": "500",
               **{f"MARKETDATA_{p}_RATE_LIMIT": "1000" for p in ("YAHOO", "ALPHAVANTAGE", "TWELVEDATA", "POLYGON")}}
        proc = subprocess.Popen([sys.executable, "-m", "marketdata_assets.sidecar", "--providers", "AAPL,EURUSD",
                                 "--prefix", prefix, "--redis-url", redis_url, "--port", str(port),
                                 "--data-dir", str(tmp_path / "none")], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            def health():
                req = urllib.request.Request(f"http://127.0.0.1:{port}/health", headers={"Authorization": "Bearer tok"})
                try:
                    with urllib.request.urlopen(req, timeout=2) as resp:
                        body = json.loads(resp.read())
                except (OSError, ValueError):
                    return None
                return body if body["providers"]["cycles"] >= 2 else None

            body = wait_for(health, 60, what="/health with two provider cycles")
            req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer tok"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                metrics = resp.read().decode()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert body["status"] == "ok"
    assert set(body["providers"]["instruments"]) == {"AAPL", "EURUSD"}
    assert body["providers"]["instruments"]["AAPL"]["provider"] == "yahoo"
    assert len(cache(prefix).bars("AAPL", "1m", 500)) > 400
    beat = cache(prefix).heartbeat()  # providers only: the loop writes the heartbeat, "stopped" at the end
    assert beat["instruments"] == ["AAPL", "EURUSD"] and beat["status"] == "stopped"
    assert "marketdata_sidecar_provider_cycle_seconds_bucket" in metrics
    assert 'marketdata_sidecar_provider_requests_total{outcome="served",provider="yahoo"}' in metrics


def test_redis_down_at_start_is_retried_without_fetching_the_history_again(make_loop, sim, live, prefix):
    loop = make_loop(("AAPL",))
    good = loop.redis
    loop.redis = loop.publisher.redis = redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    run(loop, sim)
    fetched = len(live.requests())
    down = loop.status()
    loop.redis = loop.publisher.redis = good

    run(loop, sim, cycles=2, step=1)

    assert down["redis_error"] and down["loaded"] is False
    assert loop.status()["loaded"] is True and loop.status()["redis_error"] is None
    assert len(live.requests()) == fetched + 1  # the history was kept; one poll after it
    assert len(cache(prefix).bars("AAPL", "1m", 500)) == len(loop.feeds["AAPL"].bars.kept)


def test_restarted_empty_redis_is_rebuilt_and_polling_goes_on(make_loop, sim, private_redis, prefix):
    server = private_redis()
    server.start()
    loop = make_loop(("AAPL", "EURUSD"), url=server.url)
    run(loop, sim, cycles=3, step=1)
    before = {i: LiveCache(server.url, prefix).bars(i, "1m", 500) for i in ("AAPL", "EURUSD")}
    server.kill()
    run(loop, sim, cycles=2, step=1)
    down = loop.status()
    server.start()                       # without persistence: back empty
    sim.advance(60)
    run(loop, sim, cycles=2, step=1)

    assert down["redis_error"] and loop.status()["redis_error"] is None
    with LiveCache(server.url, prefix) as c:
        for inst, old in before.items():
            now = c.bars(inst, "1m", 500)
            assert len(now) == len(loop.feeds[inst].bars.kept) >= len(old)
            assert now["ts"].is_unique and now["ts"].is_monotonic_increasing
            assert set(old["ts"].iloc[-100:]) <= set(now["ts"])          # what it had is back
            assert now["ts"].iloc[-1] > old["ts"].iloc[-1]                # and polling went on
            assert np.diff(now["ts"].astype("int64")).min() > 0
            assert c.indicators(inst, "1m")


def test_sidecar_refuses_a_provider_instrument_missing_from_the_symbol_map(tmp_path, prefix, redis_url):
    proc = subprocess.run([sys.executable, "-m", "marketdata_assets.sidecar", "--providers", "AAPL,NOPE1",
                           "--prefix", prefix, "--redis-url", redis_url, "--port", "0",
                           "--data-dir", str(tmp_path / "none")],
                          env={**os.environ, **FAKE_KEYS}, capture_output=True, text=True, timeout=60)

    assert proc.returncode == 2
    assert "NOPE1" in proc.stderr and "symbol map" in proc.stderr


def _history(n: int, start_s: int = 1732282200) -> list:
    from marketdata_assets.sidecar.provider_state import Minute

    rng = np.random.default_rng(5)
    close = 100 + np.cumsum(rng.standard_normal(n) * 0.05)
    return [Minute((start_s + 60 * i) * 1_000_000, (float(close[i - 1] if i else 100.0), float(close[i] + 0.1),
                   float(close[i] - 0.1), float(close[i]), float(10 + i)), "yahoo") for i in range(n)]


def _bars_after(update) -> dict:
    return {(c.timeframe, c.bar.start): (c.packed(), tuple(None if v != v else round(v, 9) for v in c.indicators.values()))
            for c in update.closed}


@pytest.mark.parametrize("back", [1, 7, 45])
def test_correction_replay_from_a_checkpoint_equals_a_full_rebuild(back):
    from dataclasses import replace

    from marketdata_assets.model.sessions import market_for_instrument
    from marketdata_assets.sidecar.provider_state import ProviderBars

    market, rank = market_for_instrument("AAPL"), {"yahoo": 0}
    minutes = _history(400)
    asof = minutes[-1].ts + 61_000_000
    fixed = replace(minutes[-back], values=(*minutes[-back].values[:3], minutes[-back].values[3] + 0.02, 99.0))

    replayed = ProviderBars("AAPL", market, 300, rank)
    replayed.load(minutes[:-20], asof)
    replayed.apply(minutes[-20:], asof)
    update = replayed.apply([fixed], asof)
    # the reference: the same polls, as if the provider had sent the corrected minute from the start
    right = [*minutes[:-back], fixed, *minutes[len(minutes) - back + 1:]]
    rebuilt = ProviderBars("AAPL", market, 300, rank)
    first = rebuilt.load(right[:-20], asof)
    then = rebuilt.apply(right[-20:], asof)
    full = type(update)(closed=[*first.closed, *then.closed])

    assert update.replayed and not update.snapshot and replayed.corrections == 1
    assert update.closed and min(c.bar.start for c in update.closed if c.timeframe == "1m") < fixed.ts + 1
    whole = _bars_after(full)
    for key, value in _bars_after(update).items():   # every bar the replay rewrote is the rebuilt bar,
        assert whole[key] == value, key              # at the same ring slot
    seq = {(c.timeframe, c.bar.start): c.seq for c in full.closed}
    assert all(seq[(c.timeframe, c.bar.start)] == c.seq for c in update.closed)
    for tf in ("1m", "5m", "1h"):
        assert json.dumps(replayed.indicators[tf].state_dict()) == json.dumps(rebuilt.indicators[tf].state_dict())


def test_websocket_subscribers_get_provider_bars_as_json_with_their_provider(make_loop, sim):
    from marketdata_assets.sidecar.http import Hub, Metrics, _Client

    hub = Hub(Metrics())
    client = _Client(None, 1000)
    client.subs = {"EURUSD": {"bar", "tick", "quote"}}
    hub.clients.add(client)
    loop = make_loop(("EURUSD",))
    loop.hub = hub
    run(loop, sim)
    sim.advance(60)
    run(loop, sim)

    messages = [json.loads(client.queue.get_nowait()) for _ in range(client.queue.qsize())]
    one_minute = [m for m in messages if m["timeframe"] == "1m"]
    assert len(one_minute) == 1 and one_minute[0]["provider"] == "yahoo"
    assert one_minute[0]["volume"] is None                       # FX: no volume, and valid JSON (no NaN)
    assert all(m["type"] == "bar" and m["instrument"] == "EURUSD" for m in messages)
