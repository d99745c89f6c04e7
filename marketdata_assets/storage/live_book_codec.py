"""The live book's JSON messages, for every end-of-batch of a read at once.

One message per end-of-batch, the value of ``{p}:book:{i}`` and of every message on
``{p}:events:book:{i}`` (:mod:`marketdata_assets.storage.live_book`)::

    {"type": "book", "instrument": "ESH24", "ts_us": 1709913600000000,
     "bids": [[price, quantity, num_orders], ...], "asks": [...]}

best level first, byte for byte what ``json.dumps`` writes for the same dict. A read of a
busy file closes thousands of batches, so the messages are written by one compiled pass
(numba) into one buffer, one message per line (JSON holds no raw newline): the replay's
distinct prices are formatted once (``repr``, as ``json`` does), quantities, order counts
and times are integers written digit by digit. Nothing runs in Python per level, per
event or per message.
"""

from __future__ import annotations

import json

import numpy as np

_INT_DIGITS = 20          # an int64 with its sign


def encode_books(instrument: str, ts: np.ndarray, ids: np.ndarray, quantity: np.ndarray, num_orders: np.ndarray,
                 prices: np.ndarray) -> bytes:
    """The messages of the batch ends, each followed by ``\n``: message ``j`` has ``ts[j]``
    and, per side ``s`` (0 bids, 1 asks), the levels ``ids[s, j, :]`` (indexes into
    ``prices``, best first, −1 past the book's depth) with ``quantity[s, j, :]`` and
    ``num_orders[s, j, :]``."""
    from marketdata_assets.storage.live_book_kernel import encode  # numba: imported when first used

    n = len(ts)
    if n == 0:
        return b""
    text = [repr(float(p)).encode() for p in np.asarray(prices, np.float64).tolist()]
    price_offsets = np.zeros(len(text) + 1, np.int64)
    price_offsets[1:] = np.cumsum([len(t) for t in text])
    price_bytes = np.frombuffer(b"".join(text) or b" ", np.uint8)
    head = np.frombuffer(f'{{"type": "book", "instrument": {json.dumps(instrument)}, "ts_us": '.encode(), np.uint8)
    levels = ids.shape[2]
    widest = int(np.diff(price_offsets).max(initial=0))
    per_book = len(head) + _INT_DIGITS + 33 + 2 * levels * (widest + 2 * _INT_DIGITS + 8)
    out = np.empty(n * per_book, np.uint8)
    ends = np.empty(n, np.int64)
    encode(head, np.asarray(ts, np.int64), np.asarray(ids, np.int64), np.asarray(quantity, np.int64),
           np.asarray(num_orders, np.int64), price_bytes, price_offsets, out, ends)
    return out[:ends[-1]].tobytes()


def last_message(lines: bytes) -> bytes:
    """The last message of :func:`encode_books`' output, without its newline."""
    return lines[lines.rfind(b"\n", 0, len(lines) - 1) + 1:-1]
