"""glibc heap slack for the sidecar process, applied once by its entry point (``__main__.main``).

Never called on import nor by a library class: it changes the whole process, so only the
process that owns it decides (not the Dagster code server, not a notebook reading bars).
"""

from __future__ import annotations

import ctypes

TOP_PAD = 16 << 20
_M_TOP_PAD = -2  # glibc's mallopt parameter number
_tuned: bool | None = None


def tune_malloc() -> bool:
    """Ask glibc to keep 16 MiB of slack at the top of the heap (``M_TOP_PAD``); True if done.

    The sidecar allocates and frees buffers of a few hundred KB per batch and per 5000-bar
    read (reply, copies, columns). With glibc's defaults each free trims the heap and the
    next allocation page-faults the memory in again: a 5000-bar ``LiveCache.bars`` read
    takes ~1.0 ms instead of ~0.35 ms here. The padding keeps those pages mapped: at most
    16 MiB more resident. Once per process; a no-op (False) where glibc is absent.
    """
    global _tuned
    if _tuned is None:
        _tuned = False
        try:
            libc = ctypes.CDLL("libc.so.6")
            _tuned = bool(libc.mallopt(_M_TOP_PAD, TOP_PAD))
        except (OSError, AttributeError):
            pass
    return _tuned
