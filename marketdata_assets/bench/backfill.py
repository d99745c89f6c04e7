"""Backfill throughput: 20 partitions of the named job ``sierra_chain`` launched as one
backfill, beside 20× the single-partition floor measured in the same run.

What a user's backfill from the UI does, without the daemon's polling: one run per partition
(the assets have no single-run backfill policy), each in its own process (the default run
launcher's ``dagster api execute_run``: the code location loaded per run) with the project's
executor (``build_defs``: in-process), all tagged with one backfill id, at most
``concurrency`` at once (the run coordinator's queue, ``max_concurrent_runs`` in
``dagster.yaml``). The instance is a temporary one (SQLite storage in a temp
``DAGSTER_HOME``) shared by the run processes.

The floor is :func:`bench.floor.chain_floor` of one of the partitions (decode + bulk load of
exactly the rows the chain wrote, ``indicators`` included) times the partition count: the
time one core needs at the least, so a ratio above 1 means the runs used more than one core.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from marketdata_assets.bench.core import Result
from marketdata_assets.bench.sierra import INSTRUMENT, synthetic_records

FIRST_DAY = date(2024, 3, 4)
_DAGSTER_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"


def trading_days(count: int) -> list[date]:
    from marketdata_assets.model.sessions import market_for_instrument

    market, days, d = market_for_instrument(INSTRUMENT), [], FIRST_DAY
    while len(days) < count:
        if market.is_trading_day(d):
            days.append(d)
        d += timedelta(days=1)
    return days


def write_days(path: Path, days: list[date], per_day: int) -> None:
    """``per_day`` trades in each day's session, one file, in time order."""
    from marketdata_assets.bench.sierra import DAY
    from marketdata_assets.model.sessions import market_for_instrument
    from marketdata_assets.sources.sierra.scid_writer import write_scid

    market = market_for_instrument(INSTRUMENT)
    base = synthetic_records(per_day)
    anchor = market.session_bounds_us(DAY)[0][0]
    chunks = []
    for day in days:
        rec = base.copy()
        rec["dt"] += market.session_bounds_us(day)[0][0] - anchor
        chunks.append(rec)
    write_scid(path, np.concatenate(chunks))


def run_partition(key: str, backfill_id: str) -> int:
    """Child process: one run of ``sierra_chain`` for ``key``, as the run launcher starts it."""
    import dagster as dg

    from marketdata_assets.definitions import build_defs
    from marketdata_assets.defs.sierra.jobs import SIERRA_CHAIN_CHECK_KEYS, SIERRA_CHAIN_KEYS

    job = build_defs().resolve_job_def("sierra_chain").get_subset(
        asset_selection=set(SIERRA_CHAIN_KEYS), asset_check_selection=set(SIERRA_CHAIN_CHECK_KEYS))
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance, partition_key=key, raise_on_error=False,
            tags={"dagster/backfill": backfill_id},
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
    return 0 if result.success else 1


def _backfill(keys: list[str], env: dict, concurrency: int) -> float:
    backfill_id = uuid.uuid4().hex[:8]

    def launch(key: str) -> None:
        subprocess.run([sys.executable, "-m", "marketdata_assets.bench.backfill", key, backfill_id],
                       env=env, check=True)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(launch, keys))
    return time.perf_counter() - t0


def bench_backfill(work: Path, per_day: int, url: str, label: str, partitions: int = 20,
                   concurrency: tuple[int, ...] = (1, 2)) -> list[Result]:
    """One row per concurrency: ticks/s of the whole backfill beside ``partitions`` × the floor."""
    import dagster as dg

    from marketdata_assets.bench.floor import CHAIN_TABLES, chain_floor
    from marketdata_assets.defs.partitions import instrument_partitions, key_for
    from marketdata_assets.storage.warehouse import partition_scope

    days = trading_days(partitions)
    work = work.resolve()
    data_dir = work / "backfill"
    data_dir.mkdir(exist_ok=True)
    path = data_dir / f"{INSTRUMENT}.scid"
    write_days(path, days, per_day)
    one_day = work / "floor-day.scid"   # the floor decodes one partition's records
    write_days(one_day, [days[len(days) // 2]], per_day)
    keys = [str(key_for(d, INSTRUMENT)) for d in days]
    out = []
    try:
        for k in concurrency:
            fresh = _fresh_warehouse(url, work)
            with tempfile.TemporaryDirectory(dir=work) as home:
                Path(home, "dagster.yaml").write_text(_DAGSTER_YAML)
                env = {**os.environ, "DAGSTER_HOME": home, "MARKETDATA_WAREHOUSE_URL": fresh,
                       "MARKETDATA_SIERRA_DATA_DIR": str(data_dir), "MARKETDATA_PARTITIONS_START": str(days[0]),
                       "PYTHONWARNINGS": "ignore"}
                with dg.DagsterInstance.from_config(home) as instance:
                    instance.add_dynamic_partitions(instrument_partitions.name, [INSTRUMENT])
                took = _backfill(keys, env, k)
            floor = chain_floor(fresh, one_day, partition_scope(INSTRUMENT, days[len(days) // 2]),
                                tables=(*CHAIN_TABLES, "indicators"))
            total = per_day * partitions
            limit_s = floor["floor_s"] * partitions
            print(f"  {label} backfill of {partitions} partitions, {k} at once: {took:.1f} s "
                  f"({total / took:,.0f} ticks/s); floor {partitions} x {floor['floor_s']} s", flush=True)
            out.append(Result(f"backfill of {partitions} partitions x {per_day:,} ticks, {k} run(s) at once ({label})",
                              round(total / took, 1), "ticks/s", f"{partitions} x the single-partition floor",
                              round(total / limit_s, 1), round(limit_s / took, 3), "ratio >= 1 with 2 at once",
                              detail={"seconds": round(took, 2), "floor": floor, "concurrency": k}))
    finally:
        path.unlink(missing_ok=True)
        one_day.unlink(missing_ok=True)
    return out


def _fresh_warehouse(url: str, work: Path) -> str:
    from marketdata_assets.storage.warehouse import open_warehouse

    if url.startswith("sqlite"):
        db = work / f"backfill-{uuid.uuid4().hex[:6]}.db"
        url = f"sqlite:///{db}"
    else:
        from marketdata_assets.bench.run import _fresh_pg_database

        url = _fresh_pg_database(url)
    open_warehouse(url).close()
    return url


if __name__ == "__main__":
    sys.exit(run_partition(sys.argv[1], sys.argv[2]))
