"""Peak memory of ``sierra_ticks`` loading one trading date, each in a fresh process.

Two files: a many-date ``.scid`` file (25M records at full scale, about 1M per trading
date) of which one date is loaded, and a file of out-of-range records (1 GiB at full
scale, every record dated before the partition set, then one in-range record: all of
them quarantined by that record's partition, streamed in bounded slices). The child
reports its peak RSS (``VmHWM``) before the load (the fixed overhead: interpreter,
libraries, warehouse) and after it. Limits: 2x the loaded date's rows in memory (the
decoded ``raw_ticks`` frame) plus the fixed overhead; for the out-of-range file, the
file's size plus the fixed overhead (a file must never need its size in memory; the
detail keeps ``above_fixed``, the load's own peak, which stays flat as the file grows).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from marketdata_assets.bench.core import Result
from marketdata_assets.bench.sierra import DAY, synthetic_records
from marketdata_assets.sources.sierra.scid import SC_EPOCH_US
from marketdata_assets.testkit.sierra_sample import write_scid

CHUNK = 1_000_000
FIRST_DAY = DAY - timedelta(days=14)
LAST_DAY = DAY + timedelta(days=21)

_CHILD = r"""
import json, sys
from datetime import date
from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.pipelines.sierra.ticks import load_raw
from marketdata_assets.storage.warehouse import open_warehouse, partition_scope
from marketdata_assets.transforms.partition_dates import DateRange
def hwm():  # VmHWM: this process's own peak (ru_maxrss survives fork + exec from a large parent)
    line = next(x for x in open("/proc/self/status") if x.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024
path, db, day, first, last = sys.argv[1:6]
wh = open_warehouse(f"sqlite:///{db}")
wh.migrate()
fixed = hwm()
r = load_raw(wh, __import__("pathlib").Path(path), "ESH24", market_for_instrument("ESH24"),
             date.fromisoformat(day), "bench", dates=DateRange(date.fromisoformat(first), date.fromisoformat(last)))
peak = hwm()
rows = wh.read("raw_ticks", partition_scope("ESH24", day))
print(json.dumps({"fixed": fixed, "peak": peak, "rows": len(rows), "quarantined": r.details["quarantined_out_of_range"],
                  "row_bytes": int(rows.memory_usage(deep=False).sum())}))
"""


def _child(path: Path, db: Path, day: date) -> dict:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(db), str(day), str(FIRST_DAY), str(LAST_DAY)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _many_dates_file(path: Path, n: int) -> None:
    """``n`` records spread over consecutive calendar days around :data:`DAY`, ~1M per day at full scale."""
    per_day = max(1000, n // 25)
    write_scid(path, synthetic_records(0))
    days = [FIRST_DAY + timedelta(days=i) for i in range(36)]
    written, shift = 0, 0
    for d in days:
        if written >= n:
            break
        if d.weekday() == 5:  # Saturday: no CME session
            continue
        rec = synthetic_records(min(per_day, n - written), seed=shift + 1)
        rec["dt"] += np.int64((d - DAY).days) * 86_400_000_000
        for lo in range(0, len(rec), CHUNK):
            write_scid(path, rec[lo:lo + CHUNK], append=True)
        written += len(rec)
        shift += 1


def _out_of_range_file(path: Path, size_bytes: int) -> None:
    n = max(1000, size_bytes // 40)
    write_scid(path, synthetic_records(0))
    for lo in range(0, n, CHUNK):
        rec = synthetic_records(min(CHUNK, n - lo))
        rec["dt"] -= np.int64(5 * 365) * 86_400_000_000   # 2019: before the partition set
        write_scid(path, rec, append=True)
    last = synthetic_records(1)
    write_scid(path, last, append=True)
    assert last["dt"][0] > SC_EPOCH_US


def bench_memory(work: Path, n_records: int, oor_bytes: int) -> list[Result]:
    out = []
    path = work / "memory.scid"
    _many_dates_file(path, n_records)
    got = _child(path, work / "memory.db", DAY)
    limit = 2 * got["row_bytes"] + got["fixed"]
    mib = 1024 * 1024
    print(f"  one date of {n_records:,} records: {got}", flush=True)
    out.append(Result(f"peak RSS loading one trading date ({got['rows']:,} rows) of a {n_records:,}-record file",
                      round(got["peak"] / mib, 1), "MiB", "2x the date's rows + fixed overhead",
                      round(limit / mib, 1), round(limit / got["peak"], 3), "ratio >= 1",
                      detail={k: v for k, v in got.items()}))
    _out_of_range_file(path, oor_bytes)
    size = path.stat().st_size
    got = _child(path, work / "memory.db", DAY)
    got["above_fixed"] = got["peak"] - got["fixed"]
    limit = size + got["fixed"]
    print(f"  out-of-range file of {size:,} bytes: {got}", flush=True)
    out.append(Result(f"peak RSS quarantining a {size / mib:,.0f} MiB file of out-of-range records",
                      round(got["peak"] / mib, 1), "MiB", "file size + fixed overhead",
                      round(limit / mib, 1), round(limit / got["peak"], 3), "ratio >= 1",
                      detail={k: v for k, v in got.items()}))
    path.unlink()
    return out
