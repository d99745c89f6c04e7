"""The sidecar's depth feed against the real Redis: the live book equals the batch
reconstruction of the same records, resumes after a restart, and every end-of-batch book
reaches /ws and pub/sub subscribers."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import redis
from prometheus_client import CollectorRegistry, generate_latest
from websockets.asyncio.client import connect

from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.pipelines.bars import book_at
from marketdata_assets.pipelines.sierra.depth import load_depth
from marketdata_assets.settings import Secret
from marketdata_assets.sidecar import depth as depth_feed
from marketdata_assets.sidecar.depth import DepthFeeder
from marketdata_assets.sidecar.http import Hub, Metrics, _apply, _Client, make_app, start_http
from marketdata_assets.sources.sierra.depth import parse_depth_name, read_depth, utc_day_bounds
from marketdata_assets.storage.live_book import BookKeys, LiveBook
from marketdata_assets.storage.warehouse import open_warehouse
from marketdata_assets.transforms.book import BookState, replay_book, screen_events
from marketdata_assets_tests.depth import handbuilt as hb
from marketdata_assets_tests.sidecar.conftest import SHARED_REDIS, free_port


def batch_book(wh, directory, at_us):
    load_depth(wh, directory, hb.INSTRUMENT, market_for_instrument(hb.INSTRUMENT), hb.TRADING_DATE, "r")
    book = book_at(wh, hb.INSTRUMENT, hb.TRADING_DATE, at_us)
    side = {s: [[r.price, r.quantity, r.num_orders] for r in book[book.side == s].itertuples()] for s in ("bid", "ask")}
    return side["bid"], side["ask"]


def every_batch_book(depth_dir, levels):
    """The book at every end-of-batch of the files, in order: the batch path's screening and
    replay (transforms/book.py) of the records up to that batch end, from the book the
    previous file ended with."""
    books, state = [], BookState.empty()
    for path in sorted(depth_dir.glob("*.depth")):
        c = read_depth(path).columns
        reason, eff = screen_events(c["ts"], c["command"], c["price"], *utc_day_bounds(parse_depth_name(path.name)[1]),
                                    None)
        cols = [c[k] for k in ("command", "flags", "num_orders", "price", "quantity")]
        for end in np.flatnonzero(c["flags"] & 1):
            upto = slice(0, end + 1)
            book = replay_book(eff[upto], *(x[upto] for x in cols), reason[upto] != 0, state, snapshots=False).final
            bids, asks = book.top(levels)
            books.append({"type": "book", "instrument": hb.INSTRUMENT, "ts_us": int(eff[end]), "bids": bids,
                          "asks": asks})
        state = replay_book(eff, *cols, reason != 0, state, snapshots=False).final
    return books


def run_steps(feeder, n=3):
    async def go():
        for _ in range(n):
            await feeder.step()
    asyncio.run(go())


def test_live_book_equals_batch_reconstruction_as_the_files_grow_and_after_restart(tmp_path, prefix):
    depth_dir = tmp_path / "MarketDepthData"
    depth_dir.mkdir()
    registry = CollectorRegistry()
    hb.write_files(depth_dir, b_rows=3, trailing=b"")     # file B ends inside a batch
    reader = LiveBook(SHARED_REDIS, prefix)
    with open_warehouse(f"sqlite:///{tmp_path}/wh.db") as wh:
        feeder = DepthFeeder(depth_dir, SHARED_REDIS, prefix, levels=10, registry=registry)
        run_steps(feeder)
        first = reader.book(hb.INSTRUMENT)
        assert first["ts_us"] == hb.B0                     # the crossed batch, not the open one
        assert (first["bids"], first["asks"]) == batch_book(wh, depth_dir, first["ts_us"])
        assert reader.top_of_book(hb.INSTRUMENT)["crossed"] == "1"

        hb.write_files(depth_dir, b_rows=6, trailing=b"")  # Sierra Chart appends; a new feeder resumes
        restarted = DepthFeeder(depth_dir, SHARED_REDIS, prefix, levels=10, registry=CollectorRegistry())
        run_steps(restarted)
        second = reader.book(hb.INSTRUMENT)
        assert second["ts_us"] == hb.B0 + 2 * 1_000_000
        assert (second["bids"], second["asks"]) == batch_book(wh, depth_dir, second["ts_us"])
        assert second["bids"] == [[100.25, 9, 1], [100.0, 6, 1]] and second["asks"] == [[100.75, 3, 1]]
        assert restarted.feeds[hb.INSTRUMENT].offset == 64 + 6 * 24
    tob = reader.top_of_book(hb.INSTRUMENT)
    reader.close()
    assert (tob["bid"], tob["bid_size"], tob["ask"], tob["ask_size"], tob["crossed"]) == ("100.25", "9", "100.75",
                                                                                         "3", "0")
    ok, status = restarted.status()
    assert ok and status["instruments"][hb.INSTRUMENT]["file"] == "ESZ5.2025-09-23.depth"
    text = generate_latest(registry).decode()
    assert 'marketdata_sidecar_depth_quarantined_total{reason="missing_level"} 1.0' in text
    assert 'marketdata_sidecar_depth_records_total{instrument="ESZ5"}' in text


def test_book_updates_reach_only_clients_subscribed_to_book_events(tmp_path, prefix):
    depth_dir = tmp_path / "MarketDepthData"
    depth_dir.mkdir()
    hb.write_files(depth_dir, b_rows=6, trailing=b"")
    hub = Hub(Metrics())
    books, bars = _Client(None, 100), _Client(None, 100)
    assert _apply(books, {"op": "subscribe", "instruments": ["ESZ5"], "events": ["book"]})["type"] == "subscribed"
    _apply(bars, {"op": "subscribe", "instruments": ["ESZ5"], "events": ["bar"]})
    hub.clients |= {books, bars}

    run_steps(DepthFeeder(depth_dir, SHARED_REDIS, prefix, levels=2, hub=hub))

    messages = [json.loads(books.queue.get_nowait()) for _ in range(books.queue.qsize())]
    assert bars.queue.qsize() == 0
    assert messages == every_batch_book(depth_dir, levels=2)     # 5 batch ends in file A, 4 in file B
    assert len(messages) == 9 and messages[-1]["bids"] == [[100.25, 9, 1], [100.0, 6, 1]]


def test_every_end_of_batch_book_reaches_ws_and_pubsub_subscribers_in_order(tmp_path, prefix, monkeypatch):
    monkeypatch.setattr(depth_feed, "COMMIT_BATCHES", 2)          # a read commits in several steps
    depth_dir = tmp_path / "MarketDepthData"
    depth_dir.mkdir()
    hb.write_files(depth_dir, b_rows=6, trailing=b"")
    expected = every_batch_book(depth_dir, levels=10)
    client = redis.Redis.from_url(SHARED_REDIS)
    pubsub = client.pubsub()
    pubsub.subscribe(BookKeys(prefix).channel(hb.INSTRUMENT))
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    token, port = "depth-token", free_port()

    async def scenario():
        hub = Hub(Metrics())
        runner = await start_http(make_app(lambda: (True, {}), hub.metrics, hub, Secret(token)), "127.0.0.1", port)
        try:
            async with connect(f"ws://127.0.0.1:{port}/ws?token={token}") as ws:
                await ws.send(json.dumps({"op": "subscribe", "instruments": ["ESZ5"], "events": ["book"]}))
                assert json.loads(await ws.recv())["type"] == "subscribed"
                feeder = DepthFeeder(depth_dir, SHARED_REDIS, prefix, levels=10, hub=hub)
                for _ in range(3):
                    await feeder.step()
                async with asyncio.timeout(30):
                    return feeder, [json.loads(await ws.recv()) for _ in expected]
        finally:
            await runner.cleanup()

    feeder, over_ws = asyncio.run(scenario())
    over_pubsub = []
    while (m := pubsub.get_message(timeout=1)) is not None:
        over_pubsub.append(json.loads(m["data"]))
    pubsub.close()
    stored = json.loads(client.get(BookKeys(prefix).book(hb.INSTRUMENT)))
    client.close()

    assert len(expected) == 9 and len({b["ts_us"] for b in expected}) < 9   # batches sharing a millisecond too
    assert over_ws == over_pubsub == expected
    assert stored == expected[-1] and feeder.feeds[hb.INSTRUMENT].offset == 64 + 6 * 24


def test_a_pattern_subscriber_alone_receives_every_book_too(tmp_path, prefix):
    depth_dir = tmp_path / "MarketDepthData"
    depth_dir.mkdir()
    hb.write_files(depth_dir, b_rows=6, trailing=b"")
    client = redis.Redis.from_url(SHARED_REDIS)
    pubsub = client.pubsub()
    pubsub.psubscribe(f"{prefix}:events:book:*")                 # no channel subscriber: NUMSUB is 0
    assert pubsub.get_message(timeout=5)["type"] == "psubscribe"

    run_steps(DepthFeeder(depth_dir, SHARED_REDIS, prefix, levels=10))

    received = []
    while (m := pubsub.get_message(timeout=1)) is not None:
        received.append(json.loads(m["data"]))
    pubsub.close()
    client.close()
    assert received == every_batch_book(depth_dir, levels=10)


def test_depth_feed_is_on_by_default_only_when_the_folder_exists(tmp_path, monkeypatch):
    from marketdata_assets.sidecar.config import load_config, parser

    monkeypatch.delenv("MARKETDATA_SIERRA_DEPTH_DIR", raising=False)
    args = ["--data-dir", str(tmp_path)]
    assert load_config(parser().parse_args(args)).depth_dir is None
    (tmp_path / "MarketDepthData").mkdir()

    assert load_config(parser().parse_args(args)).depth_dir == tmp_path / "MarketDepthData"
    assert load_config(parser().parse_args([*args, "--no-depth"])).depth_dir is None
    monkeypatch.setenv("MARKETDATA_SIERRA_DEPTH_DIR", str(tmp_path / "elsewhere"))
    assert load_config(parser().parse_args([*args, "--depth"])).depth_dir == tmp_path / "elsewhere"


def test_sidecar_process_tails_depth_by_default_and_reports_it(tmp_path, prefix, sidecars):
    import shutil

    from marketdata_assets_tests.sidecar.conftest import wait_for
    from marketdata_assets_tests.sidecar.test_e2e import http_get

    data = tmp_path / "data"
    (data / "MarketDepthData").mkdir(parents=True)
    shutil.copy(hb.write_files(tmp_path, b_rows=6, trailing=b"")[0], data / "MarketDepthData")
    shutil.copy(tmp_path / "ESZ5.2025-09-23.depth", data / "MarketDepthData")
    car = sidecars(data, SHARED_REDIS, prefix, extra_env={"MARKETDATA_SIERRA_DEPTH_DIR": ""}).start()

    status, body = wait_for(lambda: (lambda r: r if r[0] == 200 and '"offset": 208' in r[1] else None)(
        http_get(car.port, "/health")), 60, what="/health with the depth feed caught up")
    _, metrics = http_get(car.port, "/metrics")
    reader = LiveBook(SHARED_REDIS, prefix)
    book = reader.book(hb.INSTRUMENT)
    reader.close()
    car.stop()

    assert json.loads(body)["depth"]["instruments"]["ESZ5"]["bid_levels"] == 2
    assert 'marketdata_sidecar_depth_book_updates_total{instrument="ESZ5"}' in metrics
    assert book["bids"] == [[100.25, 9, 1], [100.0, 6, 1]]


def test_redis_outage_backs_off_then_resumes_from_the_state_in_redis(tmp_path, prefix, private_redis):
    depth_dir = tmp_path / "MarketDepthData"
    depth_dir.mkdir()
    hb.write_files(depth_dir, b_rows=3, trailing=b"")
    server = private_redis()
    registry = CollectorRegistry()
    feeder = DepthFeeder(depth_dir, server.url, prefix, levels=10, registry=registry)
    run_steps(feeder)
    server.kill()
    hb.write_files(depth_dir, b_rows=6, trailing=b"")

    run_steps(feeder, 2)                                  # Redis down: an error, then waiting
    down = feeder.status()
    server.start()
    feeder._retry_at = 0.0                                # the back-off has run out
    run_steps(feeder)
    reader = LiveBook(server.url, prefix)
    book = reader.book(hb.INSTRUMENT)
    reader.close()

    assert down[0] is False and down[1]["redis_error"] is not None
    # the second step waited instead of retrying
    assert registry.get_sample_value("marketdata_sidecar_depth_errors_total") == 1
    assert book["ts_us"] == hb.B0 + 2 * 1_000_000 and book["asks"] == [[100.75, 3, 1]]
