"""Which date partition a file record belongs to, and who answers for the records that
belong to none.

A record's partition date is its trading date (the market's session calendar) when that
date is inside the partition set ``[first, last]``. Every other record is *out of range*:
its ``DateTime`` decoded to no instant (INT64_MIN, garbage bytes, a legacy day count of
1e300), or its trading date is before the partitions' start or after the last date
(tomorrow: a date whose partition does not exist yet only because the market's trading
date rolls before the partitions' UTC day is *pending*, and read by its own partition once
that exists). Such a record never becomes a run request and is never silently skipped: it
is quarantined with rule :data:`OUT_OF_RANGE` by exactly one partition, its *owner*: the
partition of the nearest in-range record before it in the file, or of the first one after
it when none precedes. The owner depends only on the file, so every partition's read
agrees on it and a record is quarantined once. A file with no in-range record at all has
no owner: its records are reported (logged and counted by the sensor), not loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from marketdata_assets.model.sessions import Market

OUT_OF_RANGE = "timestamp_out_of_range"
NAT = np.datetime64("NaT", "D")
TS_INVALID = np.iinfo(np.int64).min   # a decoded time that is no instant (NaT)


@dataclass(frozen=True)
class DateRange:
    """The partition set's dates, both ends included. Dates after ``last`` up to
    ``pending_until`` are *pending*: valid trading dates whose partition does not exist yet
    (CME's and FX's trading date rolls before UTC midnight, the partitions' day does not)."""

    first: date
    last: date
    pending_until: date | None = None

    def __contains__(self, d: date | str) -> bool:
        d = date.fromisoformat(d) if isinstance(d, str) else d
        return self.first <= d <= self.last


# no partition bounds: only invalid times are out (every decodable time is 1899-12-30 to 9999-12-31 UTC)
ALL_DATES = DateRange(date(1899, 12, 28), date(9999, 12, 30))


SLICE = 1 << 20  # records per slice: the calendar's temporaries (~40 B a record) stay bounded


def record_dates(ts_us: np.ndarray, market: Market, dates: DateRange) -> np.ndarray:
    """Trading date (``datetime64[D]``) of each record, NaT where it is out of range."""
    if len(ts_us) > SLICE:
        return np.concatenate([record_dates(ts_us[lo:lo + SLICE], market, dates)
                               for lo in range(0, len(ts_us), SLICE)])
    ok = ts_us != TS_INVALID
    out = np.full(len(ts_us), NAT)
    if ok.any():
        d = market.trading_dates(ts_us[ok])
        inside = (d >= np.datetime64(dates.first, "D")) & (d <= np.datetime64(dates.last, "D"))
        out[np.flatnonzero(ok)[inside]] = d[inside]
    return out


def pending(ts_us: np.ndarray, market: Market, dates: DateRange) -> np.ndarray:
    """True where a record's trading date is pending: it is neither loaded nor quarantined
    now, and its own partition reads it once that exists."""
    if len(ts_us) > SLICE:
        return np.concatenate([pending(ts_us[lo:lo + SLICE], market, dates) for lo in range(0, len(ts_us), SLICE)])
    ok = ts_us != TS_INVALID
    out = np.zeros(len(ts_us), dtype=bool)
    if dates.pending_until is not None and ok.any():
        d = market.trading_dates(ts_us[ok])
        out[ok] = (d > np.datetime64(dates.last, "D")) & (d <= np.datetime64(dates.pending_until, "D"))
    return out


def owners(dates: np.ndarray, before: np.datetime64 = NAT) -> np.ndarray:
    """For the records of a file slice running to the end of the file, the partition that
    answers for each: its own date when in range, else the nearest in-range date before
    it (``before``: the last one preceding the slice), else the first one after it; NaT
    when the file has no in-range record."""
    n = len(dates)
    ok = ~np.isnat(dates)
    last_ok = np.maximum.accumulate(np.where(ok, np.arange(n), -1)) if n else np.empty(0, np.int64)
    out = np.where(last_ok >= 0, dates[np.maximum(last_ok, 0)] if n else dates, before)
    if np.isnat(before) and ok.any():
        out = np.where(np.isnat(out), dates[np.argmax(ok)], out)
    return out.astype("datetime64[D]")


def last_in_range(dates: np.ndarray) -> np.datetime64:
    """The last in-range date of a slice (NaT when there is none)."""
    ok = np.flatnonzero(~np.isnat(dates))
    return dates[ok[-1]] if len(ok) else NAT
