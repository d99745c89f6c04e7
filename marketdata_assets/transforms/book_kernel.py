"""The order-book replay kernel, compiled with numba: one pass over the events.

Prices arrive as ids into a sorted array of the distinct prices (``price_ids``), so each
side of the book is a dense array indexed by price id: ``alive``, ``quantity`` and
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
           init_side, init_pid, init_qty, init_orders):
    """Replay the events; returns
    ``missing`` (per event), per batch end ``(bid_id, bid_qty, ask_id, ask_qty)`` (id −1 when
    the side is empty), per snapshot batch end the top ``levels`` per side as
    ``(bid_ids, bid_qty, bid_orders, ask_ids, ask_qty, ask_orders)`` (id −1 past the book's
    depth), and the final book ``(bid_alive, bid_qty, bid_orders, ask_alive, ask_qty, ask_orders)``.
    ``snap_at[j]`` tells whether batch end ``j`` is a snapshot point."""
    n = len(command)
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
    n_batches = 0
    for i in range(n):
        if flags[i] & 1:
            n_batches += 1
    n_snaps = 0
    for j in range(len(snap_at)):
        if snap_at[j]:
            n_snaps += 1
    missing = np.zeros(n, np.bool_)
    top = np.empty((n_batches, 4), np.int64)
    snap_ids = np.full((2, n_snaps, levels), -1, np.int64)
    snap_qty = np.zeros((2, n_snaps, levels), np.int64)
    snap_orders = np.zeros((2, n_snaps, levels), np.int64)
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
    return missing, top, snap_ids, snap_qty, snap_orders, alive, qty, orders
