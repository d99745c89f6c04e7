"""The same-run floor of a partition's chain ``sierra_ticks`` → ``ohlc_bars``.

The floor is what the chain cannot go below on this machine, right now: decoding the
partition's records from the ``.scid`` file, plus loading exactly the rows the chain wrote
(every table, read back after the run) into empty tables with the same columns, keys and
indexes, by the backend's fastest bulk path: a server-side binary ``COPY`` from a file
(PostgreSQL) or a bare ``executemany`` of ready tuples in one transaction (SQLite).
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
from pathlib import Path

from marketdata_assets.bench.core import best_of
from marketdata_assets.sources.sierra.scid import read_scid

# every table the chain writes for a partition (checkpoint row aside: one row)
CHAIN_TABLES = ("raw_ticks", "quarantine", "ticks", "base_bars", "ohlc_bars", "data_gaps")


def written_rows(url: str, scope: dict, tables: tuple[str, ...] = CHAIN_TABLES) -> dict:
    """The partition's rows of each chain table, as the chain left them."""
    from marketdata_assets.storage.warehouse import open_warehouse

    with open_warehouse(url) as wh:
        frames = {t: wh.read(t, scope) for t in tables}
    return {t: f for t, f in frames.items() if len(f)}


def decode_seconds(path: Path) -> float:
    read_scid(path).records  # noqa: B018 - page cache warm, as for the chain
    return best_of(lambda: read_scid(path).records)


def chain_floor(url: str, path: Path, scope: dict, tables: tuple[str, ...] = CHAIN_TABLES) -> dict:
    """``{"decode_s", "load_s", "floor_s", "rows": {table: n}}`` for the partition at ``scope``
    (``path``: a file of that partition's records only)."""
    frames = written_rows(url, scope, tables)
    load = _postgres_copy_seconds(url, frames) if url.startswith("postgres") else _sqlite_seconds(url, frames)
    decode = decode_seconds(path)
    return {"decode_s": round(decode, 4), "load_s": round(load, 4), "floor_s": round(decode + load, 4),
            "rows": {t: len(f) for t, f in frames.items()}}


def _postgres_copy_seconds(url: str, frames: dict) -> float:
    import psycopg

    from marketdata_assets.storage.warehouse import pgswap
    from marketdata_assets.storage.warehouse.frames import prepare
    from marketdata_assets.storage.warehouse.pgcopy import encode
    from marketdata_assets.storage.warehouse.schema import table

    files = {}
    conn = psycopg.connect(url, autocommit=True)
    partitioned = pgswap.declarative_tables(conn)
    try:
        for name, frame in frames.items():
            tbl = table(name)
            fd, copy_file = tempfile.mkstemp(suffix=".pgcopy", dir="/tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(encode(prepare(tbl, frame)))
            os.chmod(copy_file, 0o644)
            files[name] = copy_file
            conn.execute(f"DROP TABLE IF EXISTS floor_{name}")
            conn.execute(f"CREATE TABLE floor_{name} (LIKE {name} INCLUDING ALL)")
            if name in partitioned:   # the keys each leaf carries (a partitioned parent has none)
                pgswap.add_leaf_keys(conn.cursor(), name, f"floor_{name}")
        cols = {n: ", ".join(c for c, _ in table(n).columns) for n in files}

        def clear():
            conn.execute(f"TRUNCATE {', '.join(f'floor_{n}' for n in files)}")
            conn.execute("CHECKPOINT")

        def load():
            with conn.transaction():
                for name, copy_file in files.items():
                    conn.execute(f"COPY floor_{name} ({cols[name]}) FROM {_literal(copy_file)} (FORMAT BINARY)")

        return best_of(load, repeat=2, setup=clear)
    finally:
        for name, copy_file in files.items():
            conn.execute(f"DROP TABLE IF EXISTS floor_{name}")
            os.unlink(copy_file)
        conn.close()


def _literal(path: str) -> str:
    """A server-side file name as an SQL literal: our own mkstemp path, quoted defensively."""
    if "'" in path:
        raise ValueError("unexpected quote in temp path")
    return f"'{path}'"


def _sqlite_seconds(url: str, frames: dict) -> float:
    from marketdata_assets.storage.warehouse.schema import table
    from marketdata_assets.storage.warehouse.sqlite import SQLiteWarehouse, sqlite_path

    conn = sqlite3.connect(sqlite_path(url), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    inserts = {}
    try:
        for name, frame in frames.items():
            names, rows = SQLiteWarehouse._rows(table(name), frame, None)
            _clone_sqlite_table(conn, name)
            inserts[name] = (f"INSERT INTO floor_{name} ({', '.join(names)}) "  # noqa: S608
                             f"VALUES ({', '.join('?' * len(names))})", rows)

        def clear():
            for name in inserts:
                conn.execute(f"DELETE FROM floor_{name}")  # noqa: S608

        def load():
            conn.execute("BEGIN")
            for stmt, rows in inserts.values():
                conn.executemany(stmt, rows)
            conn.execute("COMMIT")

        return best_of(load, repeat=2, setup=clear)
    finally:
        for name in inserts:
            conn.execute(f"DROP TABLE IF EXISTS floor_{name}")
        conn.close()


def _clone_sqlite_table(conn: sqlite3.Connection, name: str) -> None:
    """``floor_<name>`` with the same DDL (keys, constraints) and the same indexes."""
    conn.execute(f"DROP TABLE IF EXISTS floor_{name}")
    ddl = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()[0]
    conn.execute(re.sub(rf"^CREATE TABLE (IF NOT EXISTS )?{name}\b", f"CREATE TABLE floor_{name}", ddl))
    for (sql,) in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                               "AND sql IS NOT NULL", (name,)).fetchall():
        sql = re.sub(r"^CREATE (UNIQUE )?INDEX (IF NOT EXISTS )?(\w+) ON \w+",
                     lambda m: f"CREATE {m.group(1) or ''}INDEX floor_{m.group(3)} ON floor_{name}", sql)
        conn.execute(sql)
