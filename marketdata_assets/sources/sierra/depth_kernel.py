"""The ``.depth`` decode kernel (numba), kept apart so that importing the reader does not
import numba: the Dagster code location loads without it.

The output columns are allocated by numpy (which asks the kernel for huge pages on large
arrays) and filled here: allocating them inside the kernel costs a page fault per 4 KiB.
"""

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def decode_into(dt, command, flags, num_orders, price, quantity, epoch_us, ts, cmd, fl, orders, px, qty):
    """One pass over the records (strided views into the map) into the contiguous columns;
    returns (whether any ``DateTime`` looks like a legacy f64, top byte 0x3E-0x41, the index
    of the last end-of-batch record or -1)."""
    legacy, last_end = False, -1
    for i in range(len(dt)):
        v = dt[i]
        top = (v >> 56) & 0xFF
        if top >= 0x3E and top <= 0x41:
            legacy = True
        ts[i] = v - epoch_us
        f = flags[i]
        if f & 1:
            last_end = i
        cmd[i], fl[i], orders[i], px[i], qty[i] = command[i], f, num_orders[i], price[i], quantity[i]
    return legacy, last_end


def decode(dt, command, flags, num_orders, price, quantity, epoch_us):
    n = len(dt)
    out = (np.empty(n, np.int64), np.empty(n, np.uint8), np.empty(n, np.uint8), np.empty(n, np.uint16),
           np.empty(n, np.float32), np.empty(n, np.uint32))
    legacy, last_end = decode_into(dt, command, flags, num_orders, price, quantity, epoch_us, *out)
    return (*out, legacy, last_end)
