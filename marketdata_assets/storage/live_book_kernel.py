"""The compiled writer behind :func:`marketdata_assets.storage.live_book_codec.encode_books`."""

from __future__ import annotations

import numba
import numpy as np

_BIDS = np.frombuffer(b', "bids": [', np.uint8)
_ASKS = np.frombuffer(b'], "asks": [', np.uint8)
_END = np.frombuffer(b"]}\n", np.uint8)      # one message per line
_SEP = np.frombuffer(b", ", np.uint8)


@numba.njit(cache=True, nogil=True)
def _put(out, pos, chunk):
    for k in range(len(chunk)):
        out[pos + k] = chunk[k]
    return pos + len(chunk)


@numba.njit(cache=True, nogil=True)
def _put_int(out, pos, v):
    if v < 0:
        out[pos] = 45   # "-"
        pos += 1
        v = -v
    digits = 1
    rest = v // 10
    while rest > 0:
        digits += 1
        rest //= 10
    for k in range(digits - 1, -1, -1):
        out[pos + k] = 48 + v % 10
        v //= 10
    return pos + digits


@numba.njit(cache=True, nogil=True)
def _encode(head, ts, ids, qty, orders, price_bytes, price_offsets, out, ends, bids, asks, end, sep):
    pos = 0
    for j in range(len(ts)):
        pos = _put(out, pos, head)
        pos = _put_int(out, pos, ts[j])
        pos = _put(out, pos, bids)
        for s in range(2):
            if s == 1:
                pos = _put(out, pos, asks)
            for lvl in range(ids.shape[2]):
                p = ids[s, j, lvl]
                if p < 0:
                    break
                if lvl > 0:
                    pos = _put(out, pos, sep)
                out[pos] = 91   # "["
                pos += 1
                pos = _put(out, pos, price_bytes[price_offsets[p]:price_offsets[p + 1]])
                pos = _put(out, pos, sep)
                pos = _put_int(out, pos, qty[s, j, lvl])
                pos = _put(out, pos, sep)
                pos = _put_int(out, pos, orders[s, j, lvl])
                out[pos] = 93   # "]"
                pos += 1
        pos = _put(out, pos, end)
        ends[j] = pos


def encode(head, ts, ids, qty, orders, price_bytes, price_offsets, out, ends) -> None:
    """Write the messages into ``out``, each followed by a newline; ``ends[j]`` is where
    message ``j`` (with its newline) ends."""
    _encode(head, ts, ids, qty, orders, price_bytes, price_offsets, out, ends, _BIDS, _ASKS, _END, _SEP)
