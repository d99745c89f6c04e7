"""Market-depth benchmarks, each beside a limit measured in the same run:

* ``depth decode``: :func:`read_depth` of a ``.depth`` file vs ``cat`` of the same file to
  /dev/null (both from the page cache); goal ratio ≥ 0.3.
* ``book replay + snapshots``: :func:`replay_book` of 5M events with 1-second snapshots of
  10 levels and the 1m book bars, vs one numpy pass over the same event columns (the
  memory traffic any replay has to pay); goal ≥ 2M events/s.
* ``depth feed``: the sidecar's :class:`~marketdata_assets.sidecar.depth.DepthFeeder` into
  the real Redis (every end-of-batch book committed, and published when someone listens),
  catching up on a file in one read and following a file that grows by 2,000 records a
  read, with no subscriber and with a ``redis-cli SUBSCRIBE`` on the book channel, vs
  :func:`read_depth` + :func:`replay_book` of the same records (what any feed must do).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np

from marketdata_assets.bench.core import Result, best_of, throughput
from marketdata_assets.sources.sierra.depth import read_depth
from marketdata_assets.sources.sierra.depth_writer import depth_records, write_depth
from marketdata_assets.transforms.book import BookState, book_bars, replay_book

T0 = 1_710_194_400_000_000  # 2024-03-11 22:00 UTC
SESSION_US = 23 * 3_600_000_000


def synthetic_events(n: int, seed: int = 1, t0: int = T0, span_us: int = SESSION_US) -> np.ndarray:
    """``n`` depth records over ``span_us`` from ``t0`` (one session): levels within ±20 ticks
    of a random-walk mid, adds, modifies and deletes in batches of ~5, a full clear every
    ~50,000 records."""
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
    ts = t0 + (np.arange(n, dtype=np.int64) * span_us) // n
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


FEED_DAY_US = T0 - 22 * 3_600_000_000    # 2024-03-11 00:00 UTC: the feed's file holds one UTC day
LIVE_READ = 2_000                         # records appended between two reads of the live figure


def bench_depth_feed(work: Path, n: int, redis_url: str) -> list[Result]:
    from redis import Redis

    from marketdata_assets.sidecar.depth import DepthFeeder
    from marketdata_assets.storage.live_book import BookKeys

    rec = synthetic_events(n, t0=FEED_DAY_US, span_us=SESSION_US)
    folder = work / "MarketDepthData"
    folder.mkdir(exist_ok=True)
    path = folder / "BENCH.2024-03-11.depth"
    prefix = f"bench-depth-{uuid.uuid4().hex[:8]}"
    client = Redis.from_url(redis_url)

    def feed(slices: list[int]) -> float:
        """Seconds spent in the feeder's reads while the file grows to each size in ``slices``."""
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        write_depth(path, rec[:0])
        feeder = DepthFeeder(folder, redis_url, prefix, levels=10)

        async def go() -> float:
            spent = 0.0
            try:
                for lo, hi in zip([0, *slices[:-1]], slices, strict=True):
                    write_depth(path, rec[lo:hi], append=True)
                    t0 = time.perf_counter()
                    await feeder.step()
                    spent += time.perf_counter() - t0
            finally:
                await feeder.redis.aclose()
            assert feeder.feeds["BENCH"].offset == 64 + n * 24, "the feed did not read the whole file"
            return spent

        return asyncio.run(go())

    catch_up = [n]
    live = list(range(LIVE_READ, n, LIVE_READ)) + [n]
    out, listener = [], None
    try:
        feed(catch_up)  # numba compiled and cached, Redis connection warmed
        for subscribed in (False, True):
            if subscribed:
                if shutil.which("redis-cli") is None:
                    break
                listener = _subscriber(client, redis_url, BookKeys(prefix).channel("BENCH"))
            for name, slices in (("depth feed catch-up (one read)", catch_up),
                                 (f"depth feed live ({LIVE_READ:,} records a read)", live)):
                ours_s = min(feed(slices) for _ in range(2))
                limit_s = min(_slices_baseline(path, rec, slices) for _ in range(2))
                r = throughput(f"{name}{', 1 subscriber' if subscribed else ''}", n, ours_s,
                               "read_depth + replay_book of the same reads", limit_s, "events/s")
                r.detail = {"events": n, "reads": len(slices), "seconds": round(ours_s, 4),
                            "batches": int((rec["flags"] & 1).sum())}
                out.append(r)
    finally:
        if listener is not None:
            listener.terminate()
            listener.wait(10)
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()
        path.unlink(missing_ok=True)
    return out


def _subscriber(client, redis_url: str, channel: str) -> subprocess.Popen:
    """A ``redis-cli`` subscribed to ``channel`` (a consumer that keeps up), once Redis counts it."""
    proc = subprocess.Popen(["redis-cli", "-u", redis_url, "SUBSCRIBE", channel], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while client.pubsub_numsub(channel)[0][1] == 0:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"redis-cli did not subscribe to {channel}")
        time.sleep(0.01)
    return proc


def _slices_baseline(path: Path, rec: np.ndarray, slices: list[int]) -> float:
    """Seconds of ``read_depth`` + ``replay_book`` (no snapshots) over the same growing file."""
    write_depth(path, rec[:0])
    state, offset, spent = BookState.empty(), None, 0.0
    for lo, hi in zip([0, *slices[:-1]], slices, strict=True):
        write_depth(path, rec[lo:hi], append=True)
        t0 = time.perf_counter()
        chunk = read_depth(path, offset)
        c = chunk.columns
        state = replay_book(c["ts"], c["command"], c["flags"], c["num_orders"], c["price"], c["quantity"],
                            np.zeros(chunk.rows, bool), state, levels=10, snapshots=False).final
        offset = chunk.end_offset
        spent += time.perf_counter() - t0
    return spent


def run(work: Path, n, redis_url: str | None = None) -> list[Result]:
    out = [bench_depth_decode(work, n(5_000_000)), bench_book_replay(n(5_000_000))]
    if redis_url:
        out += bench_depth_feed(work, n(1_000_000), redis_url)
    return out
