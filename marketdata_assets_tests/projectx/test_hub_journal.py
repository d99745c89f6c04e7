"""The hub journal (messages as received, torn line cut) and the one decoder that live
processing and replay share: trades/quotes as ``.scid`` tick records, depth as book commands."""

from __future__ import annotations

import json

import numpy as np

from marketdata_assets.sources.projectx.decode import HubDecoder
from marketdata_assets.sources.projectx.journal import HubJournal, read_journal
from marketdata_assets.sources.sierra.depth import (
    CMD_ADD_ASK,
    CMD_ADD_BID,
    CMD_CLEAR,
    CMD_DELETE_BID,
    CMD_MODIFY_BID,
    CMD_NONE,
    END_OF_BATCH,
)
from marketdata_assets.sources.sierra.scid import RECORD_DTYPE, SC_EPOCH_US
from marketdata_assets.testkit.fakegateway.depth import DepthBook
from marketdata_assets.transforms.book import BookState, replay_book

CONTRACT = "CON.F.US.EP.Z24"
T0 = "2024-11-04T15:00:01.000000+00:00"


def _msg(target: str, data, rt: int = 1) -> dict:
    return {"rt": rt, "type": 1, "target": target, "arguments": [CONTRACT, data]}


def _trade(price: float, size: int, side: int, stamp: str = T0) -> dict:
    return {"symbolId": "F.US.EP", "price": price, "timestamp": stamp, "type": side, "volume": size}


def _quote(bid: float, ask: float, stamp: str = T0) -> dict:
    return {"symbol": "F.US.EP", "bestBid": bid, "bestAsk": ask, "volume": 987654, "timestamp": stamp,
            "lastUpdated": stamp}


def _depth(kind: int, price: float, volume: int, stamp: str = T0) -> dict:
    return {"timestamp": stamp, "type": kind, "price": price, "volume": volume, "currentVolume": volume}


def test_the_journal_keeps_messages_as_received_and_cuts_a_torn_last_line(tmp_path):
    path = tmp_path / "ESZ24.jsonl"
    journal = HubJournal(path)
    sent = [_msg("GatewayQuote", _quote(99.75, 100.0), rt=5), _msg("GatewayTrade", [_trade(100.0, 2, 0)], rt=6)]
    for m in sent:
        journal.append(m)
    journal.close()
    with open(path, "ab") as fh:
        fh.write(b'{"rt": 7, "type": 1, "targ')            # the line a kill -9 tore
    torn = read_journal(path)
    again = HubJournal(path)
    again.append({"rt": 8, "sidecar": "start"})
    again.close()
    after = read_journal(path)
    assert torn.entries == sent and torn.torn_bytes == 26
    assert again.torn_bytes == 26
    assert after.entries == [*sent, {"rt": 8, "sidecar": "start"}] and after.torn_bytes == 0
    assert path.read_bytes().endswith(b'"start"}\n')
    assert [json.loads(x) for x in path.read_text().splitlines()][:2] == sent


def test_decoded_ticks_are_scid_records_with_unique_times_and_the_last_quote():
    decoder = HubDecoder()
    out = [decoder.decode(m) for m in (
        _msg("GatewayTrade", _trade(100.0, 2, 0)),                                   # before any quote
        _msg("GatewayQuote", _quote(99.75, 100.0)),
        _msg("GatewayTrade", [_trade(100.0, 3, 0), _trade(99.75, 1, 1)]),            # a list, same time
        _msg("GatewayTrade", _trade(99.5, 4, 1, "2024-11-04T15:00:00.5+00:00")))]    # older: still after
    rec = np.array([r for o in out for r in o.records], dtype=RECORD_DTYPE)
    us = (rec["dt"] - SC_EPOCH_US).tolist()
    base = 1730732401_000000
    assert us == [base, base + 1, base + 2, base + 3, base + 4]
    assert rec["close"].tolist() == [100.0, 0.0, 100.0, 99.75, 99.5]
    assert (rec["high"][2:] == 100.0).all() and (rec["low"][2:] == 99.75).all()   # ask / bid of the last quote
    assert rec["high"][0] == rec["low"][0] == 100.0
    assert rec["ask_volume"].tolist() == [2, 0, 3, 0, 0] and rec["bid_volume"].tolist() == [0, 0, 0, 1, 4]
    assert rec["total_volume"].tolist() == [2, 0, 3, 1, 4]                       # the quote's 987654 is not a volume


def test_depth_entries_map_to_book_commands_and_keep_the_gateway_code():
    decoder = HubDecoder()
    first = decoder.decode(_msg("GatewayDepth", [_depth(6, 0.0, 0), _depth(2, 99.75, 10), _depth(1, 100.0, 12),
                                                 _depth(5, 100.0, 3)]))
    second = decoder.decode(_msg("GatewayDepth", [_depth(4, 99.75, 7), _depth(2, 99.75, 0), _depth(2, 99.5, 0),
                                                  _depth(9, 99.5, 4), _depth(8, 101.0, 0)]))
    cmd = [d[1] for d in first.depth + second.depth]
    code = [d[2] for d in first.depth + second.depth]
    flags = [d[3] for d in first.depth + second.depth]
    assert code == [6, 2, 1, 5, 4, 2, 2, 9, 8]
    assert cmd == [CMD_CLEAR, CMD_ADD_BID, CMD_ADD_ASK, CMD_NONE,          # Reset, Bid, Ask, Trade
                   CMD_MODIFY_BID, CMD_DELETE_BID, CMD_NONE, CMD_ADD_BID, CMD_NONE]  # an unknown level's 0: none
    assert flags == [0, 0, 0, END_OF_BATCH, 0, 0, 0, 0, END_OF_BATCH]      # one hub message = one batch


def test_a_book_rebuilt_from_the_fake_hubs_depth_has_the_quotes_best_bid_and_ask():
    book, decoder = DepthBook(0.25), HubDecoder()
    quotes, depth = [], []
    for k, (price, side) in enumerate([(5000.0, 0), (5000.25, 0), (5000.0, 1), (4999.0, 1), (5001.5, 0)]):
        bid, ask = (price - 0.25, price) if side == 0 else (price, price + 0.25)
        stamp = f"2024-11-04T15:00:0{k}+00:00"
        depth += decoder.decode(_msg("GatewayDepth", book.update(stamp, price, 1, bid, ask))).depth
        quotes.append((bid, ask))
    d = np.array(depth, dtype=[("ts", "i8"), ("cmd", "u1"), ("code", "i2"), ("flags", "u1"), ("price", "f8"),
                               ("qty", "i8")])
    replay = replay_book(d["ts"], d["cmd"], d["flags"], np.zeros(len(d), np.int64), d["price"], d["qty"],
                         np.zeros(len(d), bool), BookState.empty(), levels=5, snapshot_us=1)
    assert not replay.missing.any()
    assert list(zip(replay.batches["bid"], replay.batches["ask"], strict=True)) == quotes
    assert not replay.batches["crossed"].any()
    assert len(replay.final.price) == 10                                   # five levels a side


def test_the_tick_feed_catches_up_with_what_the_journal_holds_after_a_crash_between_them(tmp_path):
    from marketdata_assets.sidecar.journal import TickFeed
    from marketdata_assets.sidecar.projectx import catch_up

    journal = HubJournal(tmp_path / "ESZ24.jsonl")
    for m in ({"rt": 1, "sidecar": "start"}, _msg("GatewayQuote", _quote(99.75, 100.0)),
              _msg("GatewayTrade", [_trade(100.0, 3, 0), _trade(99.75, 1, 1)])):
        journal.append(m)
    journal.close()
    feed = TickFeed(tmp_path / "ESZ24.scid")
    feed.write(HubDecoder().decode(_msg("GatewayQuote", _quote(99.75, 100.0))).records)  # the crash came here
    decoder = catch_up(tmp_path / "ESZ24.jsonl", feed)
    feed.close()
    ahead = TickFeed(tmp_path / "ESZ24.scid")
    ahead.write([(SC_EPOCH_US + 9, 0.0, 1.0, 1.0, 1.0, 1, 1, 0, 1)])   # more than the journal decodes to
    again = catch_up(tmp_path / "ESZ24.jsonl", ahead)
    ahead.close()
    rec = np.fromfile(tmp_path / "ESZ24.scid", dtype=RECORD_DTYPE, offset=56)
    assert decoder.records == again.records == 3
    assert rec["close"].tolist() == [0.0, 100.0, 99.75]      # quote, then the two trades: rewritten, once each


def test_an_unreadable_hub_message_is_counted_and_changes_nothing():
    decoder = HubDecoder()
    bad = decoder.decode(_msg("GatewayTrade", {"price": 100.0, "timestamp": "not a time", "type": 0, "volume": 1}))
    good = decoder.decode(_msg("GatewayTrade", _trade(100.0, 2, 0)))
    assert bad.rejected and not bad.records and decoder.rejected == 1 and "timestamp" in decoder.last_rejection
    assert len(good.records) == 1 and decoder.records == 1
