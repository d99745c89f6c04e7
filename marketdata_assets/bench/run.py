"""``make bench``: every figure beside its physical limit, measured in the same run.

Writes ``var/bench/results.json`` (a list of ``{name, value, unit, limit_name, limit_value,
ratio}``) and prints it as a table. PostgreSQL figures use a scratch database
(``MARKETDATA_BENCH_PG_URL``, default ``postgresql://postgres@127.0.0.1:5432/md_bench``),
dropped and re-created here.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import traceback
from pathlib import Path

from marketdata_assets.bench.core import Result, table

BENCH_PG_URL = "postgresql://postgres@127.0.0.1:5432/md_bench"


def _fresh_pg_database(url: str) -> str:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return url


def run_benchmarks(only: list[str] | None = None, scale: float = 1.0) -> int:
    from marketdata_assets.bench import sierra
    from marketdata_assets.settings import get_settings

    out_dir = get_settings().var_dir / "bench"
    work = out_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    pg_url = os.environ.get("MARKETDATA_BENCH_PG_URL", BENCH_PG_URL)

    def n(count: int) -> int:
        return max(1000, int(count * scale))

    plan = {
        "scid": lambda: [sierra.bench_scid_decode(work, n(20_000_000))],
        "postgres": lambda: sierra.bench_postgres_write(_migrated(_fresh_pg_database(pg_url)), n(2_000_000)),
        "sqlite": lambda: [sierra.bench_sqlite_write(work, n(2_000_000))],
        "bars": lambda: [sierra.bench_bars(n(20_000_000))],
        # the out-of-range file: 1 GiB at full scale (its quarantine is streamed in bounded slices)
        "memory": lambda: _memory(work, n(25_000_000), max(1 << 20, int(scale * (1 << 30)))),
        "e2e": lambda: [
            *sierra.bench_partition_end_to_end(work, n(1_000_000), f"sqlite:///{work}/e2e.db", "SQLite"),
            *sierra.bench_partition_end_to_end(work, n(1_000_000), _migrated(_fresh_pg_database(pg_url)),
                                               "PostgreSQL"),
        ],
    }
    from marketdata_assets.bench import backfill, depth, live_ws

    # one backfill of the named job over 20 partitions, one then two runs at once (PostgreSQL)
    plan["backfill"] = lambda: backfill.bench_backfill(work, n(1_000_000), pg_url, "PostgreSQL")
    # .scid append -> a /ws client's updated bar, at its real rate (10k ticks/s) whatever the scale
    plan["live_ws"] = lambda: live_ws.bench_ws_latency()

    plan["depth"] = lambda: depth.run(work, n, get_settings().redis_url)
    plan.update(_optional_plans(work, n))
    plan["projectx"] = lambda: _projectx(scale)
    results: list[Result] = []
    failed = []
    for name, fn in plan.items():
        if only and name not in only:
            continue
        print(f"running {name}…", flush=True)
        try:
            got = fn()
            results += got
            for r in got:
                print(f"  {r.name}: {r.value:,} {r.unit} (limit {r.limit_value:,}, ratio {r.ratio})", flush=True)
        except Exception:  # noqa: BLE001 - one failing benchmark must not hide the others
            failed.append(name)
            traceback.print_exc()
    rows = [r.as_dict() for r in results]
    (out_dir / "results.json").write_text(json.dumps(rows, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(rows))
    print(f"\nwritten to {out_dir / 'results.json'}")
    if failed:
        print(f"FAILED benchmarks: {failed}", file=sys.stderr)
    return 1 if failed else 0


def _projectx(scale: float) -> list[Result]:
    from marketdata_assets.bench import projectx

    return projectx.run(scale)


def _memory(work: Path, records: int, oor_bytes: int) -> list[Result]:
    from marketdata_assets.bench.memory import bench_memory

    return bench_memory(work, records, oor_bytes)


def _migrated(url: str) -> str:
    from marketdata_assets.storage.warehouse import open_warehouse

    open_warehouse(url).close()
    return url


def _optional_plans(work: Path, n) -> dict:
    """Benchmarks of the quality, storage-lifecycle and streaming parts, registered by their own modules."""
    plans = {}
    try:
        from marketdata_assets.bench import quality
        plans["quality"] = lambda: quality.run(n)
    except ImportError:
        pass
    from marketdata_assets.bench import providers_loop
    plans["providers_loop"] = lambda: providers_loop.run(n(200_000) // 1000)  # 200 cycles at scale 1
    try:
        from marketdata_assets.bench import archive
        from marketdata_assets.settings import get_settings
        plans["archive"] = lambda: archive.run(work, n, get_settings().redis_url)
    except ImportError:
        pass
    try:
        from marketdata_assets.bench import sidecar as sidecar_bench
        plans["sidecar"] = lambda: [x for r in sidecar_bench.run_all() for x in _sidecar_results(r)]
    except ImportError:
        pass
    return plans


SIDECAR_GOALS = {"read": "p99 <= 1 ms", "sustained": ">= 200k ticks/s", "latency_p99": "p99 <= 2 ms"}


def _sidecar_results(row: dict) -> list[Result]:
    """A sidecar row, plus one row per ``extra`` figure measured beside the layout's own limit."""
    out = [_sidecar_result(row)]
    extra = row.get("extra") or {}
    limit = extra.get("raw_ring_getrange_5000_p99_ms")
    if limit:
        for name, value in (("live_cache_last_5000_bars_read_p99_vs_ring", row["value"]),
                            ("live_cache_bars_array_5000_p99", extra.get("bars_array_p99_ms"))):
            if value:
                out.append(Result(name, float(value), "ms", "raw_ring_getrange_5000_p99", float(limit),
                                  round(float(limit) / float(value), 3)))
    return out


def _sidecar_result(row: dict) -> Result:
    """Same convention as the other rows: ratio 1.0 = at the limit, below = further from it."""
    value, limit = float(row["value"]), float(row["limit_value"])
    duration = row["unit"] in ("ms", "us", "s")
    ratio = (limit / value if duration else value / limit) if value and limit else 0.0
    goal = next((g for k, g in SIDECAR_GOALS.items() if k in row["name"].lower()), "")
    return Result(row["name"], value, row["unit"], row["limit_name"], limit, round(ratio, 3), goal)
