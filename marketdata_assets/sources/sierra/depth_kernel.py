"""The ``.depth`` decode kernel (numba), kept apart so that importing the reader does not
import numba: the Dagster code location loads without it."""

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def decode(dt, command, flags, num_orders, price, quantity, epoch_us):
    """One pass over the records (strided views into the map): contiguous columns, whether
    any ``DateTime`` looks like a legacy f64 (top byte 0x3E-0x41), and the last end-of-batch."""
    n = len(dt)
    ts = np.empty(n, np.int64)
    cmd, fl = np.empty(n, np.uint8), np.empty(n, np.uint8)
    orders, px, qty = np.empty(n, np.uint16), np.empty(n, np.float32), np.empty(n, np.uint32)
    legacy, last_end = False, -1
    for i in range(n):
        v = dt[i]
        top = (v >> 56) & 0xFF
        if top >= 0x3E and top <= 0x41:
            legacy = True
        ts[i] = v - epoch_us
        f = flags[i]
        if f & 1:
            last_end = i
        cmd[i], fl[i], orders[i], px[i], qty[i] = command[i], f, num_orders[i], price[i], quantity[i]
    return ts, cmd, fl, orders, px, qty, legacy, last_end
