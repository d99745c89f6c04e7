"""A hand-built pair of ``.depth`` files for trading date 2025-09-23 of ESZ5 (CME): every
command, every quarantine rule, a locked and a crossed book, a second file that starts
without a snapshot, a record of the next trading date and a batch left open at the end."""

from __future__ import annotations

from datetime import date

import numpy as np

from marketdata_assets.sources.sierra.depth_writer import depth_records, write_depth

INSTRUMENT = "ESZ5"
TRADING_DATE = date(2025, 9, 23)
A0 = 1_758_578_400_000_000          # 2025-09-22 22:00:00 UTC = 17:00 Chicago, the trading date's start
B0 = A0 + 2 * 3_600_000_000         # 2025-09-23 00:00:00 UTC, the second file's day
MS = 1_000
NAN = float("nan")

# (ts, command, flags, price, quantity)
FILE_A = [
    (A0 - 3_600_000_000, 1, 0, 0.0, 0),      # previous trading date: the snapshot that seeds the book
    (A0 - 3_600_000_000, 2, 0, 100.0, 5),
    (A0 - 3_600_000_000, 3, 1, 100.5, 4),
    (A0 + 500 * MS, 2, 1, 100.25, 2),        # seq 0
    (A0 + 700 * MS, 4, 0, 100.0, 6),         # seq 1
    (A0 + 700 * MS, 7, 1, 100.75, 0),        # seq 2: delete of a missing ask level, closes the batch
    (A0 + 1200 * MS, 9, 0, 0.0, 0),          # seq 3: unknown command
    (A0 + 1200 * MS, 2, 0, NAN, 1),          # seq 4: bad price
    (A0 + 1200 * MS, 3, 1, 100.75, 3),       # seq 5
    (A0 + 1100 * MS, 2, 1, 99.0, 1),         # seq 6: time going backwards (its end-of-batch still counts)
]
FILE_B = [
    (B0, 2, 1, 100.5, 1),                    # seq 7: locked (bid 100.5 = ask 100.5)
    (B0, 2, 1, 100.75, 1),                   # seq 8: same millisecond, crossed
    (B0 + 300 * MS, 6, 0, 100.75, 0),        # seq 9
    (B0 + 300 * MS, 6, 0, 100.5, 0),         # seq 10
    (B0 + 300 * MS, 4, 1, 100.25, 9),        # seq 11
    (B0 + 2000 * MS, 7, 1, 100.5, 0),        # seq 12
    (B0 + 22 * 3_600_000_000 + 1, 1, 1, 0.0, 0),  # 22:00:00.000001: the next trading date
    (B0 + 22 * 3_600_000_000 + 9, 2, 0, 101.0, 1),  # a batch not closed yet
]
KEPT_SEQ = [0, 1, 5, 7, 8, 9, 10, 11, 12]
QUARANTINED = {2: "missing_level", 3: "unknown_command", 4: "bad_price", 6: "time_backwards"}
S = 1_000_000
EXPECTED_SNAPSHOTS = {   # interval end → [(side, price, quantity), ...] best first
    A0 + S: [("bid", 100.25, 2), ("bid", 100.0, 6), ("ask", 100.5, 4)],
    A0 + 2 * S: [("bid", 100.25, 2), ("bid", 100.0, 6), ("ask", 100.5, 4), ("ask", 100.75, 3)],
    B0: [("bid", 100.75, 1), ("bid", 100.5, 1), ("bid", 100.25, 2), ("bid", 100.0, 6),
         ("ask", 100.5, 4), ("ask", 100.75, 3)],
    B0 + S: [("bid", 100.25, 9), ("bid", 100.0, 6), ("ask", 100.5, 4), ("ask", 100.75, 3)],
    B0 + 2 * S: [("bid", 100.25, 9), ("bid", 100.0, 6), ("ask", 100.75, 3)],
}


def records(rows) -> np.ndarray:
    return depth_records(*(np.array(c) for c in zip(*rows, strict=True)))


def write_files(directory, b_rows: int | None = None, trailing: bytes = b"\x07" * 5) -> tuple:
    """Write both files (file B cut after ``b_rows`` records if given)."""
    a = write_depth(directory / f"{INSTRUMENT}.2025-09-22.depth", records(FILE_A))
    b = write_depth(directory / f"{INSTRUMENT}.2025-09-23.depth", records(FILE_B[:b_rows]))
    with open(b, "ab") as fh:
        fh.write(trailing)
    return a, b
