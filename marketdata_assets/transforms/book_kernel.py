"""The order-book replay kernel, compiled with numba: one pass over the events.

Prices arrive as ids into the sorted distinct prices of the replay (:func:`price_ids`, a
hash lookup), so each side of the book is a dense array indexed by price id: ``alive``, ``quantity`` and
``num_orders``. The best bid is the highest alive id on the bid side, the best ask the
lowest on the ask side; both move incrementally (an add can only improve them, a delete of
the best scans to the next alive level, usually one tick away). A clear empties only the
range of ids touched since the previous clear.

Commands (Sierra Chart's codes, DESIGN §6): 0 none, 1 clear book, 2/3 add bid/ask,
4/5 modify bid/ask, 6/7 delete bid/ask. An add of an existing level replaces it. A modify
or delete of a level that does not exist is reported in ``missing`` and changes nothing.
Events with ``skip`` set (quarantined before the replay) change nothing either, but their
end-of-batch flag still closes the batch.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def price_ids(bits, skip, sorted_bits, out):
    """Fill ``out`` with the index of each price (its float32 bits) in ``sorted_bits`` (the
    bits of the sorted distinct prices), through an open-addressing hash table small enough
    to stay in cache. Skipped events get −1; −0.0 is looked up as 0.0."""
    size = 16
    while size < 4 * len(sorted_bits):
        size *= 2
    mask = size - 1
    keys = np.full(size, 0xFFFFFFFF, np.uint32)      # a NaN pattern: never a key
    vals = np.empty(size, np.int32)
    for k in range(len(sorted_bits)):
        b = np.uint32(sorted_bits[k])
        if b == 0x80000000:
            b = np.uint32(0)
        h = (np.uint64(b) * np.uint64(2654435761) >> np.uint64(12)) & np.uint64(mask)
        while keys[h] != 0xFFFFFFFF and keys[h] != b:
            h = (h + np.uint64(1)) & np.uint64(mask)
        keys[h] = b
        vals[h] = k
    for i in range(len(bits)):
        if skip[i]:
            out[i] = -1
            continue
        b = np.uint32(bits[i])
        if b == 0x80000000:
            b = np.uint32(0)
        h = (np.uint64(b) * np.uint64(2654435761) >> np.uint64(12)) & np.uint64(mask)
        while keys[h] != b and keys[h] != 0xFFFFFFFF:
            h = (h + np.uint64(1)) & np.uint64(mask)
        out[i] = vals[h] if keys[h] == b else -1


@numba.njit(cache=True, nogil=True)
def _best_below(alive, start):
    k = start
    while k >= 0 and not alive[k]:
        k -= 1
    return k


@numba.njit(cache=True, nogil=True)
def _best_above(alive, start, npid):
    k = start
    while k < npid and not alive[k]:
        k += 1
    return k


@numba.njit(cache=True, nogil=True)
def replay(command, flags, pid, quantity, num_orders, skip, npid, snap_at, levels,
           init_side, init_pid, init_qty, init_orders, missing, top, snap_ids, snap_qty, snap_orders):
    """Replay the events, filling ``missing`` (per event), ``top`` (per batch end: bid id, bid
    quantity, ask id, ask quantity; id −1 when the side is empty) and, per snapshot batch end,
    the top ``levels`` per side in ``snap_ids`` (side, snapshot, level; −1 past the book's
    depth), ``snap_qty`` and ``snap_orders``; returns the final book as ``(alive, quantity,
    num_orders)`` arrays of shape (side, price id).
    ``snap_at[j]`` tells whether batch end ``j`` is a snapshot point. The outputs
    ``missing``, ``top``, ``snap_ids`` (filled with −1), ``snap_qty`` and ``snap_orders`` are
    allocated by the caller: numpy asks for huge pages, the kernel's own allocator does not."""
    alive = np.zeros((2, npid), np.bool_)
    qty = np.zeros((2, npid), np.int64)
    orders = np.zeros((2, npid), np.int64)
    best_b, best_a = -1, npid
    lo, hi = npid, -1
    for k in range(len(init_pid)):
        s, p = init_side[k], init_pid[k]
        alive[s, p] = True
        qty[s, p] = init_qty[k]
        orders[s, p] = init_orders[k]
        lo, hi = min(lo, p), max(hi, p)
        if s == 0 and p > best_b:
            best_b = p
        if s == 1 and p < best_a:
            best_a = p
    n = len(command)
    j = 0
    s_i = 0
    for i in range(n):
        if not skip[i]:
            c = command[i]
            if c == 1:
                for k in range(lo, hi + 1):
                    alive[0, k] = False
                    alive[1, k] = False
                lo, hi = npid, -1
                best_b, best_a = -1, npid
            elif c >= 2 and c <= 7:
                side = (c - 2) % 2
                p = pid[i]
                if c <= 3:
                    alive[side, p] = True
                    qty[side, p] = quantity[i]
                    orders[side, p] = num_orders[i]
                    lo, hi = min(lo, p), max(hi, p)
                    if side == 0 and p > best_b:
                        best_b = p
                    if side == 1 and p < best_a:
                        best_a = p
                elif not alive[side, p]:
                    missing[i] = True
                elif c <= 5:
                    qty[side, p] = quantity[i]
                    orders[side, p] = num_orders[i]
                else:
                    alive[side, p] = False
                    if side == 0 and p == best_b:
                        best_b = _best_below(alive[0], p - 1)
                    if side == 1 and p == best_a:
                        best_a = _best_above(alive[1], p + 1, npid)
        if flags[i] & 1:
            top[j, 0] = best_b
            top[j, 1] = qty[0, best_b] if best_b >= 0 else 0
            top[j, 2] = best_a if best_a < npid else -1
            top[j, 3] = qty[1, best_a] if best_a < npid else 0
            if snap_at[j]:
                k, lvl = best_b, 0
                while k >= 0 and lvl < levels:
                    if alive[0, k]:
                        snap_ids[0, s_i, lvl] = k
                        snap_qty[0, s_i, lvl] = qty[0, k]
                        snap_orders[0, s_i, lvl] = orders[0, k]
                        lvl += 1
                    k -= 1
                k, lvl = best_a, 0
                while k < npid and lvl < levels:
                    if alive[1, k]:
                        snap_ids[1, s_i, lvl] = k
                        snap_qty[1, s_i, lvl] = qty[1, k]
                        snap_orders[1, s_i, lvl] = orders[1, k]
                        lvl += 1
                    k += 1
                s_i += 1
            j += 1
    return alive, qty, orders
