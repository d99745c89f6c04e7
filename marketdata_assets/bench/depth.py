"""Market-depth benchmarks, each beside a limit measured in the same run:

* ``depth decode``: :func:`read_depth` of a ``.depth`` file vs ``cat`` of the same file to
  /dev/null (both from the page cache); goal ratio ≥ 0.3.
* ``book replay + snapshots``: :func:`replay_book` of 5M events with 1-second snapshots of
  10 levels and the 1m book bars, vs one numpy pass over the same event columns (the
  memory traffic any replay has to pay); goal ≥ 2M events/s.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from marketdata_assets.bench.core import Result, best_of, throughput
from marketdata_assets.sources.sierra.depth import read_depth
from marketdata_assets.sources.sierra.depth_writer import depth_records, write_depth
from marketdata_assets.transforms.book import BookState, book_bars, replay_book

T0 = 1_710_194_400_000_000  # 2024-03-11 22:00 UTC
SESSION_US = 23 * 3_600_000_000


def synthetic_events(n: int, seed: int = 1) -> np.ndarray:
    """``n`` depth records over one session: levels within ±20 ticks of a random-walk mid,
    adds, modifies and deletes in batches of ~5, a full clear every ~50,000 records."""
    rng = np.random.default_rng(seed)
    mid = 20_000 + np.cumsum(rng.choice([-1, 0, 0, 0, 1], size=n))
    side = rng.integers(0, 2, size=n)
    offset = rng.integers(1, 21, size=n)
    ticks = np.where(side == 0, mid - offset, mid + offset)
    kind = rng.choice([0, 1, 2], size=n, p=[0.4, 0.4, 0.2])          # add, modify, delete
    command = (2 + 2 * kind + side).astype(np.uint8)
    command[rng.random(n) < 1 / 50_000] = 1
    flags = (rng.random(n) < 0.2).astype(np.uint8)
    flags[-1] = 1
    ts = T0 + (np.arange(n, dtype=np.int64) * SESSION_US) // n
    return depth_records(ts, command, flags, (ticks * 0.25).astype(np.float32), rng.integers(1, 200, size=n),
                         rng.integers(1, 20, size=n))


def bench_depth_decode(work: Path, n: int) -> Result:
    path = write_depth(work / "bench.2024-03-11.depth", synthetic_events(n))

    def cat():
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)

    cat()  # both measured with the file in the page cache
    cat_s = best_of(cat)
    ours_s = best_of(lambda: read_depth(path).columns)
    path.unlink()
    return throughput("depth decode", n, ours_s, "cat of the same file", cat_s, "records/s", "ratio >= 0.3")


def bench_book_replay(n: int) -> Result:
    rec = synthetic_events(n)
    cols = {"ts": rec["dt"].astype(np.int64), "command": rec["command"].copy(), "flags": rec["flags"].copy(),
            "num_orders": rec["num_orders"].copy(), "price": rec["price"].copy(), "quantity": rec["quantity"].copy()}
    skip = np.zeros(n, bool)

    def ours():
        r = replay_book(skip=skip, initial=BookState.empty(), levels=10, snapshot_us=1_000_000, **cols)
        book_bars(r.batches)

    def one_pass():
        for c in cols.values():
            c.sum()

    ours()  # compile (numba caches on disk) and warm up
    limit_s = best_of(one_pass)
    ours_s = best_of(ours)
    r = throughput("book replay + snapshots", n, ours_s, "one pass over the event columns", limit_s,
                   "events/s", ">= 2M events/s")
    r.detail = {"events": n, "seconds": round(ours_s, 4)}
    return r


def run(work: Path, n) -> list[Result]:
    return [bench_depth_decode(work, n(5_000_000)), bench_book_replay(n(5_000_000))]
