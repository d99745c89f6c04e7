"""Run as a process: rewrite one partition of ``ticks`` with ROWS rows, then print 'committed'.
The storage test SIGKILLs it in the middle of that transaction."""

import sys

import numpy as np
import pandas as pd

from marketdata_assets.storage.warehouse import open_warehouse, partition_scope


def frame(n: int, run_id: str) -> pd.DataFrame:
    ts = pd.to_datetime(1_709_852_400_000_000 + np.arange(n, dtype=np.int64), unit="us", utc=True)
    return pd.DataFrame({
        "instrument": "ESH24", "ts": ts, "trading_date": "2024-03-08", "kind": "trade",
        "price": 5000.0 + (np.arange(n) % 40) * 0.25, "size": 1, "bid": 4999.75, "ask": 5000.25,
        "aggressor": 1, "num_trades": 1, "sub_trade": 0, "quality_score": 1.0,
        "source": "test", "source_offset": np.arange(n), "run_id": run_id,
    })


if __name__ == "__main__":
    url, rows = sys.argv[1], int(sys.argv[2])
    data = frame(rows, "new")
    with open_warehouse(url) as wh:
        print("writing", flush=True)
        wh.replace_partition("ticks", data, partition_scope("ESH24", "2024-03-08"))
    print("committed", flush=True)
