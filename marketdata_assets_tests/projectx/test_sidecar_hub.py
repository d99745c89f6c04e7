"""The sidecar's ProjectX input against the fake gateway's market hub and the real Redis."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pandas as pd
import websockets

from marketdata_assets.pipelines.live import decode_journal
from marketdata_assets.settings import Secret, get_settings
from marketdata_assets.sidecar.config import SidecarConfig
from marketdata_assets.sidecar.projectx import ProjectXInput
from marketdata_assets.sidecar.runner import Runner
from marketdata_assets.sources.projectx.hub import BUY, SELL, Quote, Trade, parse_quote, parse_trades
from marketdata_assets.sources.sierra.scid import KIND_BAR, KIND_NAMES, read_scid
from marketdata_assets.storage.live_reader import LiveCache
from marketdata_assets.testkit.fakegateway import FakeGateway, catalog, market
from marketdata_assets.testkit.fakegateway.feed import FeedClock

from .conftest import API_KEY

REDIS = "redis://127.0.0.1:6379/0"
FEED_START = datetime(2024, 11, 4, 15, 0, tzinfo=UTC)
ES = catalog.CONTRACTS["CON.F.US.EP.Z24"]



def _equal_to_gateway(bars: pd.DataFrame, expected: pd.DataFrame) -> int:
    """Assert every closed live 1m bar but the first (begun before subscribing) equals the
    gateway's REST bar of that minute; returns how many were compared."""
    full = bars[bars["ts"] > bars["ts"].min()]
    for row in full.itertuples():
        ref = expected.loc[row.ts]
        assert (row.ts, row.open, row.high, row.low, row.close, row.volume) == \
            (row.ts, ref.open, ref.high, ref.low, ref.close, ref.volume)
    return len(full)


def _journal(directory) -> pd.DataFrame:
    rec = read_scid(directory / "ESZ24.scid").records
    return rec.assign(kind=KIND_NAMES[rec["kind"].to_numpy()])


def _config(data_dir, prefix) -> SidecarConfig:
    return SidecarConfig(data_dir=data_dir, instruments=("ESZ24",), instrument_markets={}, redis_url=REDIS,
                         prefix=prefix, host="127.0.0.1", port=0, token=Secret(None), poll_ms=10, buffer_max=200_000,
                         stream_maxlen=10_000_000, bars_kept=5000, heartbeat_stale_s=30, projectx=("ESZ24",))


async def _run_sidecar(cfg, seconds: float, during=None) -> ProjectXInput:
    runner = Runner(cfg)
    source = ProjectXInput(get_settings(), cfg.projectx, cfg.data_dir, kick=runner.watcher.kick)
    tasks = [asyncio.create_task(runner.run()), asyncio.create_task(source.run())]
    try:
        if during is not None:
            await during(source)
        await asyncio.sleep(seconds)
    finally:
        tasks[1].cancel()
        await asyncio.gather(tasks[1], return_exceptions=True)
        runner.stop()
        await asyncio.wait_for(tasks[0], 30)
        source.close()
    return source


def test_hub_trades_reach_redis_and_live_bars_equal_the_gateway_bars(tmp_path, prefix, projectx_env, caplog):
    with FakeGateway(feed=FeedClock(FEED_START, speed=40.0)) as server:
        projectx_env(server)
        source = asyncio.run(_run_sidecar(_config(tmp_path, prefix), 7.0))
    journal = _journal(tmp_path)
    trades = journal[journal["kind"] == "trade"]
    with LiveCache(REDIS, prefix) as cache:
        ticks = cache.ticks("ESZ24", n=100_000)
        bars = cache.bars("ESZ24", "1m")
    live_trades = ticks[ticks["kind"] == "trade"]
    expected = market.minutes(ES, FEED_START, datetime(2024, 11, 4, 16, tzinfo=UTC)).set_index("ts")
    assert source.messages["trade"] > 0 and source.messages["quote"] > 0 and source.messages["depth"] > 0
    assert len(live_trades) == len(trades) > 10
    assert live_trades["price"].tolist() == trades["close"].tolist()
    assert live_trades["ts"].is_unique
    assert _equal_to_gateway(bars, expected) >= 2
    assert API_KEY not in caplog.text and "access_token=" not in caplog.text


def test_after_a_hub_drop_the_stream_reconnects_and_resubscribes(tmp_path, prefix, projectx_env):
    async def drop(source):
        await asyncio.sleep(2.0)
        server.set_fault("hub", "drop", count=1)

    with FakeGateway(feed=FeedClock(FEED_START, speed=40.0)) as server:
        projectx_env(server)
        source = asyncio.run(_run_sidecar(_config(tmp_path, prefix), 4.0, during=drop))
        stats = server.hub.stats
    journal = _journal(tmp_path)
    with LiveCache(REDIS, prefix) as cache:
        ticks = cache.ticks("ESZ24", n=100_000)
        bars = cache.bars("ESZ24", "1m")
    expected = market.minutes(ES, FEED_START, datetime(2024, 11, 4, 16, tzinfo=UTC)).set_index("ts")
    after = journal[journal["ts"] > journal["ts"].iloc[0] + pd.Timedelta(seconds=80)]  # 2 s at 40x
    assert stats.drops == 1 and stats.connections == 2
    assert stats.subscriptions == 6  # three kinds, subscribed again on the new connection
    assert source.stream.opened == 2
    assert len(after) > 0  # data flowed again after the drop
    assert len(ticks) == int((journal["kind"] != "bar").sum()) and ticks["ts"].is_unique  # bars: the backfill
    assert len(source.backfills) == 1 and source.backfills[0]["error"] is None  # the reconnect gap was filled
    assert _equal_to_gateway(bars, expected) >= 2


def test_a_stall_is_detected_reconnected_and_backfilled_with_no_gap_or_double_count(tmp_path, prefix, projectx_env):
    async def stall(source):
        await asyncio.sleep(2.5)
        server.set_fault("hub", "stall", delay_s=60, count=1)
        await asyncio.sleep(0.8)
        await asyncio.sleep(1.2)
        seen.append(source.status())

    seen: list[dict] = []
    with FakeGateway(feed=FeedClock(FEED_START, speed=40.0)) as server:
        projectx_env(server, MARKETDATA_PROJECTX_STALL_SECONDS="1.0")
        source = asyncio.run(_run_sidecar(_config(tmp_path, prefix), 6.0, during=stall))
        stats = server.hub.stats
    with LiveCache(REDIS, prefix) as cache:
        bars = cache.bars("ESZ24", "1m")
    expected = market.minutes(ES, FEED_START, datetime(2024, 11, 4, 16, tzinfo=UTC)).set_index("ts")
    (fill,) = source.backfills
    status = source.status()
    assert stats.stalls == 1 and stats.connections == 2 and stats.subscriptions == 6
    assert source.stalls == 1 and status["reconnects"] == 1 and not status["stalled"]
    assert fill["error"] is None and fill["bars"] > 0 and fill["volume"] > 0
    assert pd.Timestamp(fill["to"]) - pd.Timestamp(fill["from"]) > pd.Timedelta(seconds=40)  # ≥1 s wall at 40x
    assert _equal_to_gateway(bars, expected) >= 4  # the minutes across the stall included
    replayed = decode_journal(tmp_path / "ESZ24.jsonl").records      # the replay decodes what live decoded
    fed = read_scid(tmp_path / "ESZ24.scid").records
    assert len(replayed) == len(fed) and (replayed["kind"] == KIND_BAR).sum() == fill["bars"]
    assert replayed["ts"].tolist() == fed["ts"].tolist() and replayed["close"].tolist() == fed["close"].tolist()


def test_trade_payloads_may_be_one_object_or_a_list():
    one = {"symbolId": "F.US.EP", "price": 5000.25, "timestamp": "2024-11-04T15:00:01.5+00:00", "volume": 3,
           "type": 0}
    two = [one, {**one, "price": 5000.0, "type": 1, "timestamp": "2024-11-04T15:00:01.5+00:00"}]
    assert parse_trades(one) == [Trade(1730732401500000, 5000.25, 3, BUY)]
    assert [t.side for t in parse_trades(two)] == [BUY, SELL]


def test_quote_volume_is_not_a_bar_volume():
    quote = parse_quote({"symbol": "F.US.EP", "bestBid": 5000.0, "bestAsk": 5000.25, "volume": 912345,
                         "lastUpdated": "2024-11-04T15:00:01Z", "timestamp": "2024-11-04T15:00:01Z"})
    assert quote == Quote(1730732401000000, 5000.0, 5000.25)


def test_the_hub_speaks_signalr_json_handshake_invocations_and_refuses_without_token(gateway):
    import httpx

    token = httpx.post(f"{gateway.url}/api/Auth/loginKey", json={"userName": "u", "apiKey": "k"}).json()["token"]
    ws_url = gateway.url.replace("http", "ws") + "/hubs/market"

    async def talk():
        async with websockets.connect(f"{ws_url}?access_token={token}") as ws:
            await ws.send(json.dumps({"protocol": "json", "version": 1}) + "\x1e")
            handshake = await ws.recv()
            await ws.send(json.dumps({"type": 1, "invocationId": "7", "target": "SubscribeContractTrades",
                                      "arguments": [ES.id]}) + "\x1e")
            completion = await ws.recv()
            await ws.send(json.dumps({"type": 1, "invocationId": "8", "target": "Nope", "arguments": [ES.id]}) +
                          "\x1e")
            error = await ws.recv()
            return handshake, completion, error

    handshake, completion, error = asyncio.run(talk())
    refused = httpx.post(f"{gateway.url}/hubs/market/negotiate")
    assert handshake == "{}\x1e"
    assert json.loads(completion.rstrip("\x1e")) == {"type": 3, "invocationId": "7", "result": None}
    assert "unknown hub method" in json.loads(error.rstrip("\x1e"))["error"]
    assert refused.status_code == 401


def test_gap_fill_subtracts_what_was_journaled_and_held_in_the_edge_seconds():
    from marketdata_assets.sources.projectx.gaps import Gap, bar_rows, fill_records

    gap = Gap("ESZ24", last_us=10_400_000, last_second_volume=3, first_us=13_200_000)
    bars = pd.DataFrame({"ts": pd.to_datetime([10, 11, 12, 13, 14], unit="s", utc=True),
                         "open": [1.0] * 5, "high": [2.0] * 5, "low": [0.5] * 5, "close": [1.5] * 5,
                         "volume": [5.0, 7.0, 0.0, 4.0, 9.0]})
    records = fill_records(gap, bar_rows(bars), held_volume_first=4)
    assert gap.window() == (10_000_000, 14_000_000)
    assert [(ts, v) for ts, *_, v in records] == [(10_000_000, 2), (11_000_000, 7)]  # 12 empty, 13 all held


def test_the_projectx_input_never_imports_dagster():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, marketdata_assets.sidecar.projectx, marketdata_assets.sources.projectx.hub, "
            "marketdata_assets.testkit.fakegateway; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'great_expectations')); "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], check=True, timeout=60)
