"""The aggressor of a trade as a small integer, the same codes everywhere: the warehouse's
``ticks.aggressor`` (migration 012), the sidecar's tick records (``live_codec.TICK_DTYPE``
``side``) and the validation and bar steps, which compare it per row with numpy.

``0`` unknown (a quote, or a trade whose bid/ask volumes do not tell), ``1`` buy (lifted the
ask), ``2`` sell (hit the bid). :data:`NAMES` turns codes into the text readers show."""

from __future__ import annotations

import numpy as np

UNKNOWN, BUY, SELL = 0, 1, 2
NAMES = np.array([None, "buy", "sell"], dtype=object)   # code → text (None: unknown)


def from_volumes(trade: np.ndarray, bid_volume: np.ndarray, ask_volume: np.ndarray) -> np.ndarray:
    """Codes of Sierra records: a trade with only ask volume was a buy, only bid volume a sell."""
    buy = trade & (ask_volume > 0) & (bid_volume == 0)
    sell = trade & (bid_volume > 0) & (ask_volume == 0)
    return (buy.astype(np.int16) * BUY) | (sell.astype(np.int16) * SELL)


def names(codes: np.ndarray) -> np.ndarray:
    """Text of codes (``buy`` / ``sell`` / None), e.g. for the read API."""
    c = np.asarray(codes)
    return NAMES[np.where((c >= 0) & (c < len(NAMES)), c, 0).astype(np.int64)]


def from_names(side: np.ndarray) -> np.ndarray:
    """Codes of text sides (``buy`` / ``sell`` / anything else unknown): files archived before 012."""
    s = np.asarray(side, dtype=object)
    return ((s == "buy").astype(np.int16) * BUY) | ((s == "sell").astype(np.int16) * SELL)
