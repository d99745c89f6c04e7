"""The sidecar's depth feed against the real Redis: the live book equals the batch
reconstruction of the same records, resumes after a restart, reaches /ws subscribers."""

from __future__ import annotations

import asyncio
import json

from prometheus_client import CollectorRegistry, generate_latest

from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.pipelines.bars import book_at
from marketdata_assets.pipelines.sierra.depth import load_depth
from marketdata_assets.sidecar.depth import DepthFeeder
from marketdata_assets.sidecar.http import Hub, Metrics, _apply, _Client
from marketdata_assets.storage.live_book import LiveBook
from marketdata_assets.storage.warehouse import open_warehouse
from marketdata_assets_tests.depth import handbuilt as hb
from marketdata_assets_tests.sidecar.conftest import SHARED_REDIS


def batch_book(wh, directory, at_us):
    load_depth(wh, directory, hb.INSTRUMENT, market_for_instrument(hb.INSTRUMENT), hb.TRADING_DATE, "r")
    book = book_at(wh, hb.INSTRUMENT, hb.TRADING_DATE, at_us)
    side = {s: [[r.price, r.quantity, r.num_orders] for r in book[book.side == s].itertuples()] for s in ("bid", "ask")}
    return side["bid"], side["ask"]


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
    assert [m["type"] for m in messages] == ["book", "book"]     # one per read: file A, then file B
    assert messages[-1]["bids"] == [[100.25, 9, 1], [100.0, 6, 1]] and messages[-1]["instrument"] == "ESZ5"


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
