"""The one mapping from journaled hub messages to ticks, bars and depth events.

:class:`HubDecoder` is fed the entries of one instrument's journal (:mod:`.journal`) in
order, live by the sidecar as each message arrives and again by the ``live_ticks`` replay
from the file, so both derive exactly the same records from exactly the same messages:

- ``GatewayTrade`` → one trade record per trade, in Sierra Chart's ``.scid`` tick layout
  (``Open = 0.0``, ``Close`` = price, ``High``/``Low`` = the last best ask/bid — the price
  itself before the first quote —, ``NumTrades = 1``, ``TotalVolume`` = size,
  ``AskVolume`` = size for a buy aggressor, ``BidVolume`` for a sell);
- ``GatewayQuote`` → a bid/ask update record (``TotalVolume = 0``, ``High`` = ask, ``Low`` =
  bid); its session running ``volume`` is never used;
- ``GatewayDepth`` → ``depth_events`` rows (:func:`book_command`), the last entry of each
  message flagged end of batch (one hub message is one consistent book update);
- the sidecar's own entries: ``start`` (a sidecar process began journaling), ``connected``
  (a hub connection opened: from the second one on, a gap opens and the instrument's
  messages are held back, :mod:`.gaps`) and ``backfill`` (the ``retrieveBars`` answer that
  fills the gap: its bar records, then the held messages, are emitted).

A hub message that cannot be read (a field missing or unreadable) changes nothing and is
counted in ``rejected`` (with the last reason), live and in the replay alike: it stays in the
journal as received, and one bad message does not stop either path.

Record timestamps are made strictly increasing the way Sierra Chart does (a record not
after the previous one gets the previous time + 1 µs). Decoding is deterministic, so the
records of a journal prefix are a prefix of the records of the whole journal: their
ordinals are stable and serve as ``source_offset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from marketdata_assets.errors import SchemaMismatch
from marketdata_assets.sources.projectx.gaps import Gap, fill_records
from marketdata_assets.sources.projectx.hub import BUY, EVENTS, parse_depth, parse_quote, parse_trades
from marketdata_assets.sources.sierra.depth import (
    CMD_ADD_ASK,
    CMD_ADD_BID,
    CMD_CLEAR,
    CMD_DELETE_ASK,
    CMD_DELETE_BID,
    CMD_MODIFY_ASK,
    CMD_MODIFY_BID,
    CMD_NONE,
    END_OF_BATCH,
)
from marketdata_assets.sources.sierra.scid import SC_EPOCH_US

ASK_TYPES = frozenset({1, 3, 10})    # Ask, BestAsk, NewBestAsk
BID_TYPES = frozenset({2, 4, 9})     # Bid, BestBid, NewBestBid
RESET = 6
Record = tuple  # (dt, open, high, low, close, num_trades, total_volume, bid_volume, ask_volume): scid RECORD_DTYPE
Depth = tuple   # (ts µs, command, source_code, flags, price, quantity)


@dataclass
class Decoded:
    records: list[Record] = field(default_factory=list)
    depth: list[Depth] = field(default_factory=list)
    held: bool = False            # the message was held back (a gap is open)
    rejected: bool = False        # the message could not be read: it changes nothing
    filled: int = 0               # bar records a backfill added
    filled_volume: int = 0


class HubDecoder:
    """Journal entries of one instrument → records, in order (module doc)."""

    def __init__(self) -> None:
        self.bid = self.ask = float("nan")
        self.last_stamp = 0                 # time of the last record (µs): the +1 µs rule
        self.second = (0, 0)                # (unix second, volume emitted in it) of the latest trade
        self.last_us: int | None = None     # feed time of the last trade/quote emitted
        self.feed_us: int | None = None     # feed time of the last trade/quote seen (held or not)
        self.connections = 0                # hub connections since the last start
        self.gap: Gap | None = None
        self.levels: tuple[set, set] = (set(), set())   # prices alive on the bid and the ask side
        self.records = self.depth_events = self.entries = 0
        self.rejected = 0                   # hub messages that could not be read (module doc)
        self.last_rejection: str | None = None

    def fill_due(self) -> bool:
        """A gap is open and the feed is past the second its first message came in."""
        g = self.gap
        return g is not None and g.first_us is not None and self.feed_us is not None and self.feed_us >= g.release_us

    def decode(self, entry: dict) -> Decoded:
        self.entries += 1
        sidecar = entry.get("sidecar")
        if sidecar is not None:
            return self._sidecar(sidecar, entry)
        kind = EVENTS.get(entry.get("target"))
        if kind is None:
            return Decoded()
        try:
            data = entry["arguments"][1]
            if kind == "trade":
                parsed = parse_trades(data)
                first, stamp = (parsed[0].ts_us, parsed[-1].ts_us) if parsed else (None, None)
            elif kind == "quote":
                parsed = parse_quote(data)
                first = stamp = parsed.ts_us if parsed else None
            else:
                parsed = parse_depth(data)
                first = stamp = None
        except (SchemaMismatch, KeyError, IndexError, TypeError) as exc:
            # kept in the journal as received; skipped the same way live and in the replay, and counted
            self.rejected += 1
            self.last_rejection = str(exc)[:300]
            return Decoded(rejected=True)
        if stamp is not None:
            self.feed_us = stamp
        if self.gap is not None:
            if self.gap.first_us is None and first is not None:
                self.gap.first_us = first
            self.gap.held.append((kind, parsed))
            return Decoded(held=True)
        out = Decoded()
        self._emit(kind, parsed, out)
        return out

    # -- the sidecar's entries -------------------------------------------------------------
    def _sidecar(self, what: str, entry: dict) -> Decoded:
        out = Decoded()
        if what == "start":      # a new process: a gap it did not live to fill stays a hole
            self.connections = 0
            self._release(out)
        elif what == "connected":
            self.connections += 1
            if self.connections > 1 and self.last_us is not None and self.gap is None:
                sec, volume = self.second
                self.gap = Gap("", self.last_us, volume if sec == self.last_us // 1_000_000 else 0)
        elif what == "backfill" and self.gap is not None:
            gap = self.gap
            if gap.first_us is not None:
                second = gap.first_us // 1_000_000
                held = sum(t.size for kind, ts in gap.held if kind == "trade" for t in ts
                           if t.ts_us // 1_000_000 == second)
                for ts, o, h, low, c, v in fill_records(gap, entry.get("bars") or [], held):
                    out.records.append((self._stamp(ts), o, h, low, c, 0, v, 0, 0))
                    out.filled += 1
                    out.filled_volume += v
                self.records += out.filled
            self._release(out)
        return out

    def _release(self, out: Decoded) -> None:
        gap, self.gap = self.gap, None
        if gap is not None:
            for kind, parsed in gap.held:
                self._emit(kind, parsed, out)

    # -- mapping -----------------------------------------------------------------------------
    def _stamp(self, ts_us: int) -> int:
        ts = max(int(ts_us), self.last_stamp + 1)
        self.last_stamp = ts
        return ts + SC_EPOCH_US

    def _emit(self, kind: str, parsed, out: Decoded) -> None:
        if kind == "trade":
            for t in parsed:
                sec = t.ts_us // 1_000_000
                self.second = (sec, (self.second[1] if self.second[0] == sec else 0) + t.size)
                quoted = self.bid == self.bid
                out.records.append((self._stamp(t.ts_us), 0.0, self.ask if quoted else t.price,
                                    self.bid if quoted else t.price, t.price, 1, t.size,
                                    0 if t.side == BUY else t.size, t.size if t.side == BUY else 0))
            if parsed:
                self.last_us = parsed[-1].ts_us
            self.records += len(parsed)
        elif kind == "quote":
            if parsed is not None:
                self.bid, self.ask = parsed.bid, parsed.ask
                out.records.append((self._stamp(parsed.ts_us), 0.0, parsed.ask, parsed.bid, 0.0, 0, 0, 0, 0))
                self.last_us = parsed.ts_us
                self.records += 1
        else:
            last = len(parsed) - 1
            for i, e in enumerate(parsed):
                out.depth.append((e.ts_us, self.book_command(e.type, e.price, e.volume), e.type,
                                  END_OF_BATCH if i == last else 0, e.price, e.volume))
            self.depth_events += len(parsed)

    def book_command(self, gateway_type: int, price: float, volume: int) -> int:
        """The book operation (Sierra Chart's command codes) a ``GatewayDepth`` entry means:
        Reset → clear book; Ask/BestAsk/NewBestAsk (Bid/…) with volume 0 → delete the level
        (none when it is not in the book), otherwise add it or, when present, modify it;
        every other type (Unknown, Trade, Low, High, Fill) changes no level → none."""
        if gateway_type == RESET:
            self.levels[0].clear()
            self.levels[1].clear()
            return CMD_CLEAR
        if gateway_type in BID_TYPES:
            side, add, modify, delete = self.levels[0], CMD_ADD_BID, CMD_MODIFY_BID, CMD_DELETE_BID
        elif gateway_type in ASK_TYPES:
            side, add, modify, delete = self.levels[1], CMD_ADD_ASK, CMD_MODIFY_ASK, CMD_DELETE_ASK
        else:
            return CMD_NONE
        if price != price:
            return CMD_NONE
        if volume <= 0:
            if price in side:
                side.discard(price)
                return delete
            return CMD_NONE
        if price in side:
            return modify
        side.add(price)
        return add
