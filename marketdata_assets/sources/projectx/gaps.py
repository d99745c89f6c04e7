"""Filling the hole a hub reconnect leaves, from ``retrieveBars`` 1-second bars.

The hub does not replay: whatever traded between the last message before a stall or drop
(``last_us``) and the first one after reconnecting (``first_us``) never arrives. After
reconnecting, the messages of the first second (``S_first``) are held back until the feed
reaches the next second; then the window is filled from 1-second bars, in time order:

- ``S_last`` (the second of ``last_us``): its bar minus the volume already journaled in that
  second, stamped just after ``last_us`` — the trades missed in it came after ``last_us``;
- every second strictly between: the whole bar;
- ``S_first``: its bar minus the volume of the held-back trades of that second, stamped at the
  second's start (the missed trades came before ``first_us``);

then the held-back messages. Volumes are therefore exact (no hole, no double count); each
filled second's open/high/low/close are the gateway's. A second whose volume is all known
adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

SECOND_US = 1_000_000


@dataclass
class Gap:
    instrument: str
    last_us: int                       # feed time of the last message before the reconnect
    last_second_volume: int            # volume journaled in the second of last_us
    first_us: int | None = None        # feed time of the first message after it
    held: list[tuple[str, object]] = field(default_factory=list)   # (kind, parsed message) held back, in order

    @property
    def release_us(self) -> int | None:
        """Feed time from which held messages are released (the second after ``S_first``)."""
        return None if self.first_us is None else (self.first_us // SECOND_US + 1) * SECOND_US

    def window(self) -> tuple[int, int]:
        """[start of S_last, end of S_first) in µs: what to ask ``retrieveBars`` for."""
        return self.last_us // SECOND_US * SECOND_US, (self.first_us // SECOND_US + 1) * SECOND_US


def bar_rows(bars: pd.DataFrame) -> list[list]:
    """``retrieveBars`` answer (a frame) → ``[start µs, o, h, l, c, volume]`` rows, as journaled."""
    return [[int(pd.Timestamp(ts).value // 1000), float(o), float(h), float(low), float(c), float(v)]
            for ts, o, h, low, c, v in bars[["ts", "open", "high", "low", "close", "volume"]].itertuples(index=False)]


def fill_records(gap: Gap, bars: list[list], held_volume_first: int) -> list[tuple[int, float, float, float,
                                                                                   float, int]]:
    """Bar records (start µs, o, h, l, c, volume) filling ``gap`` from 1-second ``bars``
    (rows of :func:`bar_rows`)."""
    s_last, s_first = gap.last_us // SECOND_US, gap.first_us // SECOND_US
    out = []
    for ts, o, h, low, c, v in bars:
        sec = int(ts) // SECOND_US
        volume = int(round(v))
        if sec == s_last:
            volume -= gap.last_second_volume
        if sec == s_first:
            volume -= held_volume_first
        if sec < s_last or sec > s_first or volume <= 0:
            continue
        out.append((sec * SECOND_US, float(o), float(h), float(low), float(c), volume))
    return out
