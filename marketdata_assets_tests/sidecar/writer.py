"""Test writer process: appends ``.scid`` records at a steady rate, like Sierra Chart does.

``python writer.py OUT_DIR --instrument ESH24 --rate 10000 --seconds 4 --seed 1``

The records (trades with sub-trade markers and bid/ask updates, over consecutive trading
dates of the instrument's market) are generated up front from the seed, then appended in
small writes every few milliseconds. Write boundaries deliberately cut records in two, so
a reader sees trailing partial records. With ``--now-timestamps`` every record carries the
wall-clock time at which it is written (for latency measurements).
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.sources.sierra.scid import RECORD_SIZE
from marketdata_assets.testkit.sierra_sample import header_bytes, session_timestamps, tick_records


def records(instrument: str, n: int, seed: int, first_day: date, days: int) -> np.ndarray:
    market = market_for_instrument(instrument)
    rng = np.random.default_rng(seed)
    trading_days = [d for d in (first_day + timedelta(k) for k in range(days * 3)) if market.is_trading_day(d)][:days]
    price, tick = {"ES": (5150.0, 0.25), "CL": (78.5, 0.01), "EU": (1.09, 0.00005)}.get(instrument[:2], (100.0, 0.01))
    chunks = []
    for day in trading_days:
        ts = session_timestamps(rng, market, day, n // len(trading_days))
        rec, price = tick_records(rng, ts, price, tick)
        chunks.append(rec)
    return np.concatenate(chunks)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out_dir", type=Path)
    p.add_argument("--instrument", default="ESH24")
    p.add_argument("--rate", type=float, default=10_000.0)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--first-day", default="2024-03-07")
    p.add_argument("--days", type=int, default=2)
    p.add_argument("--interval-ms", type=float, default=2.0)
    args = p.parse_args()
    n = int(args.rate * args.seconds)
    data = records(args.instrument, n, args.seed, date.fromisoformat(args.first_day), args.days).tobytes()
    path = args.out_dir / f"{args.instrument}.scid"
    rng = np.random.default_rng(args.seed + 1)
    with open(path, "ab", buffering=0) as fh:
        if fh.tell() == 0:
            fh.write(header_bytes())
        t0, written, step = time.monotonic(), 0, args.interval_ms / 1000.0
        while written < len(data):
            due = int((time.monotonic() - t0) * args.rate) * RECORD_SIZE
            due = min(len(data), max(due, written + 1))
            cut = due if due == len(data) else due - int(rng.integers(0, RECORD_SIZE))  # split a record
            if cut > written:
                fh.write(data[written:cut])
                written = cut
            time.sleep(step)


if __name__ == "__main__":
    main()
