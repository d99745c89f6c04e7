"""The HTTP face: token required on every route (401 before any upgrade), then committed events."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from marketdata_assets.settings import Secret
from marketdata_assets.sidecar.http import Hub, Metrics, make_app
from marketdata_assets.storage.live_reader import LiveCache

from .conftest import SHARED_REDIS, free_port, wait_for
from .test_e2e import http_get

pytestmark = pytest.mark.xdist_group("sidecar-e2e")
TOKEN = "s3cret-token"


async def refused(url: str, **kw) -> int:
    with pytest.raises(InvalidStatus) as err:
        async with connect(url, **kw):
            pass
    return err.value.response.status_code


async def next_of_type(ws, kind: str, timeout: float = 60.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


def test_ws_streams_subscribed_bars_and_ticks_only_with_the_token(tmp_path, prefix, sidecars, writers):
    data = tmp_path / "data"
    data.mkdir()
    car = sidecars(data, SHARED_REDIS, prefix, token=TOKEN).start()
    wait_for(lambda: http_get(car.port, "/health", TOKEN)[0] in (200, 503), 60, what="sidecar HTTP face")
    url = f"ws://127.0.0.1:{car.port}/ws"
    for path in ("/health", "/metrics"):
        assert http_get(car.port, path, None)[0] == http_get(car.port, path, "wrong")[0] == 401
        assert http_get(car.port, f"{path}?token={TOKEN}", None)[0] in (200, 503)
    assert "marketdata_sidecar_ticks_in" in http_get(car.port, "/metrics", TOKEN)[1]

    async def scenario() -> list[dict]:
        assert await refused(url) == 401
        assert await refused(f"{url}?token=wrong") == 401
        assert await refused(url, additional_headers={"Authorization": "Bearer wrong"}) == 401
        async with connect(f"{url}?token={TOKEN}") as bars_ws, \
                connect(url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ticks_ws:
            await bars_ws.send(json.dumps({"op": "subscribe", "instruments": ["ESH24"], "events": ["bar"]}))
            reply = await next_of_type(bars_ws, "subscribed")
            assert reply["subscriptions"] == {"ESH24": ["bar"]}
            await ticks_ws.send(json.dumps({"op": "subscribe", "instruments": ["*"], "events": ["tick", "quote"]}))
            await next_of_type(ticks_ws, "subscribed")
            await ticks_ws.send(json.dumps({"op": "subscribe", "instruments": ["../x"]}))
            assert "invalid instrument" in (await next_of_type(ticks_ws, "error"))["error"]
            writer = writers(data, instrument="ESH24", rate=10_000, seconds=2, seed=101)
            tick = await next_of_type(ticks_ws, "tick")
            assert tick["instrument"] == "ESH24" and tick["price"] > 0
            received = []
            while len([m for m in received if m["timeframe"] == "1m"]) < 30:
                received.append(await next_of_type(bars_ws, "bar"))
            for ws, name in ((ticks_ws, "*"), (bars_ws, "ESH24")):  # drained up to the reply
                await ws.send(json.dumps({"op": "unsubscribe", "instruments": [name]}))
                assert (await next_of_type(ws, "subscribed"))["subscriptions"] == {}
            await asyncio.to_thread(writer.wait, 60)
        return received

    received = asyncio.run(scenario())
    with LiveCache(SHARED_REDIS, prefix) as cache:
        stored = cache.bars("ESH24", "1m", n=5000).set_index("ts")
    for event in (m for m in received if m["timeframe"] == "1m"):
        row = stored.loc[event["ts"]]
        assert (row["open"], row["high"], row["low"], row["close"], row["volume"]) == \
            (event["open"], event["high"], event["low"], event["close"], event["volume"])
        assert set(event["indicators"]) >= {"rsi_14", "ema_20", "macd"}


def test_ws_refuses_everything_when_no_token_is_configured():
    async def scenario() -> None:
        metrics = Metrics()
        app = make_app(lambda: (True, {}), metrics, Hub(metrics), Secret(None))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            for kw in ({}, {"additional_headers": {"Authorization": "Bearer anything"}}):
                assert await refused(f"ws://127.0.0.1:{port}/ws?token=anything", **kw) == 401
            for path in ("/health", "/metrics"):
                status, body = await asyncio.to_thread(http_get, port, path, "anything")
                assert status == 401 and "MARKETDATA_SIDECAR_TOKEN is not set" in body
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


async def _raw_request(port: int, head: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 request written byte for byte (no client library re-encodes the header)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    return int(answer.split(b" ", 2)[1]), answer


@pytest.mark.parametrize("auth", [b"Bearer \xff\xfe", b"Bearer s3cret-token\xff", b"\xff\xfe", b"Bearer \xc3\x28"],
                         ids=["ff-fe", "token-plus-ff", "no-scheme", "bad-utf8-pair"])
def test_a_non_utf8_authorization_header_is_a_401_like_any_bad_token(auth, caplog):
    async def scenario() -> list[tuple[int, bytes]]:
        metrics = Metrics()
        app = make_app(lambda: (True, {}), metrics, Hub(metrics), Secret(TOKEN))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            return [await _raw_request(port, b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
                                       + auth + b"\r\nConnection: close\r\n\r\n")
                    for path in (b"/health", b"/metrics", b"/ws", b"/health?token=%FF%FE")]
        finally:
            await runner.cleanup()

    answers = asyncio.run(scenario())

    assert [status for status, _ in answers] == [401] * 4
    assert all(b"missing or wrong token" in body for _, body in answers)
    assert "Traceback" not in caplog.text and "Error handling request" not in caplog.text


def test_forming_bar_events_reach_only_their_subscribers_with_the_batch_time():
    from types import SimpleNamespace

    import numpy as np

    from marketdata_assets.sidecar.http import _apply, _Client
    from marketdata_assets.storage.live_codec import pack_bar

    hub = Hub(Metrics())
    forming, bars = _Client(None, 10), _Client(None, 10)
    assert _apply(forming, {"op": "subscribe", "instruments": ["ESH24"], "events": ["forming"]})["type"] == "subscribed"
    _apply(bars, {"op": "subscribe", "instruments": ["ESH24"], "events": ["bar"]})
    hub.clients |= {forming, bars}
    batch = SimpleNamespace(instrument="ESH24", closed=[], ticks=SimpleNamespace(ts=np.array([5, 9], np.int64)),
                            forming={"1m": pack_bar(60_000_000, 1.0, 2.0, 0.5, 1.5, 3.0, 2, 1.0, 2.0, 1.25),
                                     "5m": None})

    hub.publish([batch])

    event = json.loads(forming.queue.get_nowait())
    assert event == {"type": "forming", "instrument": "ESH24", "timeframe": "1m", "ts_us": 60_000_000, "open": 1.0,
                     "high": 2.0, "low": 0.5, "close": 1.5, "volume": 3.0, "num_trades": 2, "bid_volume": 1.0,
                     "ask_volume": 2.0, "vwap": 1.25, "last_ts_us": 9}
    assert forming.queue.empty() and bars.queue.empty()
