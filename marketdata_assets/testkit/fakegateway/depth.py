"""The fake hub's order book: ``GatewayDepth`` entries consistent with its quotes.

One :class:`DepthBook` per connection and contract keeps ``LEVELS`` price levels a side
around the quote (best bid/ask and the ticks behind them). Each trade moves the quote
(:mod:`.feed`); the book's answer, in the gateway's ``DomType`` codes, is a ``Trade`` (5)
entry for the print, then the level changes that bring the book to the new quote: a level
that left the window is sent with volume 0 (removed), the best level as ``NewBestBid`` (9)
/ ``NewBestAsk`` (10) when its price changed, ``BestBid`` (4) / ``BestAsk`` (3) when only
its size did, the levels behind as ``Bid`` (2) / ``Ask`` (1). The first answer after a
subscription starts with ``Reset`` (6) and the whole book, as the real hub's snapshot
does. So a book rebuilt from the entries has, after each message, the best bid and ask of
the last quote sent with it.
"""

from __future__ import annotations

LEVELS = 5
UNKNOWN, ASK, BID, BEST_ASK, BEST_BID, TRADE, RESET, LOW, HIGH, NEW_BEST_BID, NEW_BEST_ASK, FILL = range(12)


class DepthBook:
    def __init__(self, tick: float):
        self.tick = tick
        self.bids: dict[float, int] = {}
        self.asks: dict[float, int] = {}
        self.snapshot_due = True

    def _size(self, price: float, level: int, traded: int) -> int:
        ticks = int(round(price / self.tick))
        return 5 + 4 * level + (ticks * 7 + (traded if level == 0 else 0)) % 20

    def _side(self, book: dict[float, int], best: float, step: float, traded: int, best_type: int, new_type: int,
              level_type: int, stamp: str) -> list[dict]:
        want = {round(best + k * step, 10): self._size(best + k * step, k, traded) for k in range(LEVELS)}
        old_best = next(iter(book), None)
        out = [{"timestamp": stamp, "type": level_type, "price": p, "volume": 0, "currentVolume": 0}
               for p in book if p not in want]
        for k, (price, size) in enumerate(want.items()):
            if book.get(price) == size:
                continue
            kind = (new_type if price != old_best else best_type) if k == 0 else level_type
            out.append({"timestamp": stamp, "type": kind, "price": price, "volume": size, "currentVolume": size})
        book.clear()
        book.update(want)   # insertion order: best first
        return out

    def update(self, stamp: str, price: float, size: int, bid: float, ask: float) -> list[dict]:
        """Entries for one trade at ``price`` that moved the quote to ``bid`` / ``ask``."""
        out = []
        if self.snapshot_due:
            self.snapshot_due = False
            self.bids.clear()
            self.asks.clear()
            out.append({"timestamp": stamp, "type": RESET, "price": 0.0, "volume": 0, "currentVolume": 0})
        out.append({"timestamp": stamp, "type": TRADE, "price": price, "volume": size, "currentVolume": size})
        out += self._side(self.bids, bid, -self.tick, size, BEST_BID, NEW_BEST_BID, BID, stamp)
        out += self._side(self.asks, ask, self.tick, size, BEST_ASK, NEW_BEST_ASK, ASK, stamp)
        return out
