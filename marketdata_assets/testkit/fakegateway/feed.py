"""The fake market hub's live feed: the generator's trades replayed on a feed clock.

The feed clock starts at ``start`` (a historical instant, so the data match the REST bars
of the same time) and runs ``speed`` times faster than the wall clock. Every trade is one
``GatewayTrade``; each trade also moves the quote (``GatewayQuote``: best bid/ask around
the trade, ``volume`` the session's running total) and the top of the book
(``GatewayDepth`` best bid / best ask entries). Timestamps are the feed clock's, ISO-8601.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

from marketdata_assets.testkit.fakegateway import market
from marketdata_assets.testkit.fakegateway.catalog import Contract


def iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, UTC).isoformat(timespec="microseconds")


@dataclass
class FeedClock:
    start: datetime
    speed: float = 1.0
    wall: Callable[[], float] = time.monotonic
    _t0: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._t0 = self.wall()

    def now_us(self) -> int:
        return int(self.start.timestamp() * 1_000_000 + (self.wall() - self._t0) * self.speed * 1_000_000)


class ContractFeed:
    """Trades of one contract in time order, read minute by minute as the clock advances."""

    def __init__(self, contract: Contract):
        self.contract = contract
        self._cache: dict[int, pd.DataFrame] = {}
        self.session_volume = 0

    def _minute(self, minute_s: int) -> pd.DataFrame:
        if minute_s not in self._cache:
            if len(self._cache) > 120:
                self._cache.clear()
            start = datetime.fromtimestamp(minute_s, UTC)
            self._cache[minute_s] = market.trades(self.contract, start, datetime.fromtimestamp(minute_s + 60, UTC))
        return self._cache[minute_s]

    def trades_between(self, after_us: int, upto_us: int) -> list[tuple[int, float, int, int]]:
        """Trades with ``after_us < ts <= upto_us``: (ts µs, price, size, type)."""
        out = []
        minute = after_us // 60_000_000 * 60
        while minute * 1_000_000 <= upto_us:
            frame = self._minute(minute)
            sel = frame[(frame["ts_us"] > after_us) & (frame["ts_us"] <= upto_us)]
            out.extend(sel.itertuples(index=False, name=None))
            minute += 60
        return [(int(t), float(p), int(s), int(k)) for t, p, s, k in out]

    def events(self, trades: list[tuple[int, float, int, int]]) -> tuple[list[dict], list[dict], list[tuple]]:
        """(GatewayTrade payloads, GatewayQuote payloads, (timestamp, price, size, bid, ask) per
        trade for the depth book) for ``trades``."""
        tick = self.contract.tick_size
        t_out, q_out, d_out = [], [], []
        for ts, price, size, side in trades:
            self.session_volume += size
            stamp = iso(ts)
            bid, ask = (price - tick, price) if side == 0 else (price, price + tick)
            t_out.append({"symbolId": self.contract.symbol_id, "price": price, "timestamp": stamp,
                          "type": side, "volume": size})
            q_out.append({"symbol": self.contract.symbol_id, "symbolName": self.contract.name, "lastPrice": price,
                          "bestBid": bid, "bestAsk": ask, "change": 0.0, "changePercent": 0.0, "open": None,
                          "high": None, "low": None, "volume": self.session_volume, "lastUpdated": stamp,
                          "timestamp": stamp})
            d_out.append((stamp, price, size, bid, ask))
        return t_out, q_out, d_out
