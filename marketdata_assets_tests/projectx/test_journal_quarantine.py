"""A hostile hub journal: the ``live_ticks`` replay keeps every good trade, quote and depth
event, quarantines each bad one with its rule (raw = kept + quarantined), in one
transaction with the checkpoints, exactly once across re-runs and a journal that grows."""

from __future__ import annotations

import json
from datetime import date

import dagster as dg
import pytest

from marketdata_assets.defs.live.journal import live_ticks
from marketdata_assets.defs.partitions import instrument_partitions, key_for
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.pipelines.live import DEPTH_STAGE, TICK_STAGE, decode_journal, load_journal
from marketdata_assets.sources.projectx.decode import HubDecoder
from marketdata_assets.sources.projectx.journal import HubJournal
from marketdata_assets.storage.warehouse import open_warehouse

CONTRACT = "CON.F.US.EP.Z24"
DAY = "2024-11-04"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _at(second: int) -> str:
    return f"2024-11-04T15:00:{second:02d}.000000+00:00"


def _msg(target: str, data) -> dict:
    return {"rt": 1, "type": 1, "target": target, "arguments": [CONTRACT, data]}


def _trade(price, size, second, side=0) -> dict:
    return {"symbolId": "F.US.EP", "price": price, "timestamp": _at(second), "type": side, "volume": size}


def _quote(bid, ask, second) -> dict:
    return {"symbol": "F.US.EP", "bestBid": bid, "bestAsk": ask, "timestamp": _at(second), "lastUpdated": _at(second)}


def _depth(kind, price, volume, second) -> dict:
    return {"timestamp": _at(second), "type": kind, "price": price, "volume": volume, "currentVolume": volume}


FIRST = [
    {"rt": 1, "sidecar": "start"}, {"rt": 1, "sidecar": "connected", "connection": 1},
    _msg("GatewayQuote", _quote(5000.0, 5000.25, 1)),
    _msg("GatewayDepth", [_depth(6, 0.0, 0, 1), _depth(2, 5000.0, 10, 1), _depth(1, 5000.25, 12, 1)]),
    _msg("GatewayTrade", [_trade(5000.25, 2, 2), _trade(float("nan"), 1, 2), _trade(5000.0, 3, 2, 1)]),  # one bad
    _msg("GatewayTrade", _trade(5000.25, -4, 3)),                                   # negative size
    _msg("GatewayTrade", _trade(0.0, 1, 3)),                                        # non-positive price
    _msg("GatewayQuote", _quote(0.0, 5000.25, 4)),                                  # a quote not believed
    _msg("GatewayDepth", [_depth(2, -1.0, 5, 4), _depth(2, -1.0, 0, 4)]),           # price -1 (add, then delete)
    _msg("GatewayDepth", [_depth(1, 5000.5, -3, 5), _depth(42, 5000.5, 1, 5)]),     # negative volume, unknown type
]
SECOND = [
    _msg("GatewayDepth", [_depth(2, 4999.75, 8, 6), _depth(2, 4999.5, 4, 3)]),      # the second goes back in time
    _msg("GatewayTrade", [_trade(5000.25, 1, 7)]),
    _msg("GatewayDepth", [_depth(1, float("nan"), 3, 8)]),                           # NaN price on an ask
]


def _write(path, entries) -> None:
    journal = HubJournal(path)
    for e in entries:
        journal.append(e)
    journal.close()


def test_the_decoder_keeps_the_good_trades_of_a_message_and_sets_the_bad_ones_aside():
    decoder = HubDecoder()
    out = [decoder.decode(e) for e in FIRST[:8]]
    trades = out[4]
    assert [r[4] for r in trades.records] == [5000.25, 5000.0]                     # Close of the two good trades
    assert [(b[1], b[2]) for b in trades.bad] == [("trade", "bad_price")]
    assert [(b[1], b[2]) for o in out[5:8] for b in o.bad] == [("trade", "bad_size"), ("trade", "bad_price"),
                                                               ("quote", "bad_price")]
    assert not any(o.records for o in out[5:8]) and decoder.bad == 4 and decoder.rejected == 0


def _quarantine(url):
    with open_warehouse(url) as wh:
        q = wh.read("quarantine", {"instrument": "ESZ24", "trading_date": DAY}, order_by=("stage", "source_offset"))
        depth = wh.read("depth_events", {"instrument": "ESZ24", "trading_date": DAY}, order_by=("seq",))
        raw = wh.count("raw_ticks", {"instrument": "ESZ24", "trading_date": DAY})
    return q, depth, raw


def test_a_hostile_journal_is_replayed_with_every_bad_row_quarantined_exactly_once(tmp_path, warehouse_url,
                                                                                  monkeypatch):
    journal_dir = tmp_path / "projectx"
    path = journal_dir / "ESZ24.jsonl"
    journal_dir.mkdir()
    _write(path, FIRST)
    market, day = SierraResource().market("ESZ24"), date(2024, 11, 4)
    with open_warehouse(warehouse_url) as wh:
        first = load_journal(wh, journal_dir, "ESZ24", market, day, "run-1")
        again = load_journal(wh, journal_dir, "ESZ24", market, day, "run-2")
    q1, depth1, raw1 = _quarantine(warehouse_url)
    assert first.details["quarantined_by_rule"] == {
        f"{DEPTH_STAGE}:bad_price": 2, f"{DEPTH_STAGE}:bad_quantity": 1, f"{DEPTH_STAGE}:unknown_command": 1,
        f"{TICK_STAGE}:bad_price": 3, f"{TICK_STAGE}:bad_size": 1}
    assert again.details["appended_depth_events"] == 0 and again.details["appended_quarantined_depth"] == 0
    assert (len(q1), len(depth1), raw1) == (8, 3, 3)                     # 1 quote + 2 trades kept; nothing twice
    assert depth1["price"].tolist() == [0.0, 5000.0, 5000.25] and first.details["depth_reconciled"]
    ticks = q1[q1["stage"] == TICK_STAGE]
    assert [json.loads(r) for r in ticks["raw"]][:2] == [
        {"ts_us": 1730732402000000, "kind": "trade", "price": None, "size": 1, "type": 0},
        {"ts_us": 1730732403000000, "kind": "trade", "price": 5000.25, "size": -4, "type": 0}]
    bad_depth = q1[q1["stage"] == DEPTH_STAGE]
    assert bad_depth["source_offset"].tolist() == [3, 4, 5, 6]              # ordinals in the depth stream
    assert json.loads(bad_depth["raw"].iloc[0])["price"] == -1.0 and set(bad_depth["source"]) == {"projectx:ESZ24"}

    _write(path, SECOND)                                                     # the journal grows
    monkeypatch.setenv("MARKETDATA_JOURNAL_DIR", str(tmp_path))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(instrument_partitions.name, ["ESZ24"])
        result = dg.materialize([live_ticks], partition_key=key_for(DAY, "ESZ24"), instance=instance,
                                resources={"warehouse": WarehouseResource(url=warehouse_url),
                                           "sierra": SierraResource()}, run_config=QUIET)
    meta = result.asset_materializations_for_node("live_ticks")[0].metadata
    q2, depth2, raw2 = _quarantine(warehouse_url)
    assert meta["quarantined"].value == 10 and meta["quarantined_depth"].value == 6 and meta["depth_reconciled"].value
    assert (len(q2), len(depth2), raw2) == (10, 4, 4)
    assert q2[q2["stage"] == DEPTH_STAGE]["reason"].tolist() == [
        "bad_price", "bad_price", "bad_quantity", "unknown_command", "time_backwards", "bad_price"]
    replay = decode_journal(path)
    assert len(replay.depth) == len(depth2) + 6 and len(replay.records) == raw2 and len(replay.bad) == 4
    kept_before = q2[(q2["stage"] == DEPTH_STAGE) & (q2["source_offset"] < 7)]   # appended, not rewritten
    assert set(kept_before["run_id"]) == {"run-1"} and kept_before["raw"].tolist() == bad_depth["raw"].tolist()
    assert q2[q2["stage"] == TICK_STAGE]["raw"].tolist() == ticks["raw"].tolist()


@pytest.mark.parametrize("entry", [_msg("GatewayTrade", [_trade(5000.0, 1, 1), _trade(-2.0, 1, 1)])])
def test_a_bad_trade_never_reaches_the_tick_feed(entry):
    out = HubDecoder().decode(entry)
    assert len(out.records) == 1 and out.bad[0][2] == "bad_price"


def test_live_decoding_and_the_replay_of_the_journal_agree_on_non_finite_values(tmp_path):
    """The journal (JSON) keeps NaN and ±inf as null: the decoder reads them alike, so what
    the sidecar set aside live is what the replay quarantines."""
    entries = [*FIRST, _msg("GatewayQuote", _quote(float("inf"), 5000.5, 9)),
               _msg("GatewayTrade", [_trade(float("-inf"), 1, 9), _trade(5000.5, 1, 9)])]
    live = HubDecoder()
    outs = [live.decode(e) for e in entries]
    _write(tmp_path / "ESZ24.jsonl", entries)
    replay = decode_journal(tmp_path / "ESZ24.jsonl")
    assert [r[1:3] for o in outs for r in o.bad] == [r[1:3] for r in replay.bad] and len(replay.bad) == 5
    assert len(replay.records) == sum(len(o.records) for o in outs) == 4
    assert [tuple(d)[:6] for d in replay.depth] == [d[:6] for o in outs for d in o.depth]
