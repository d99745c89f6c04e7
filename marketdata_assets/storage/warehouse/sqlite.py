"""SQLite backend: the embedded default, zero services.

Timestamps are INTEGER Unix microseconds (UTC), dates ISO TEXT. Writes take the database
write lock up front (``BEGIN IMMEDIATE``) and wait up to 60 s for concurrent writers.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import pandas as pd

from marketdata_assets.errors import StorageError
from marketdata_assets.storage.warehouse.base import Checkpoint, Warehouse
from marketdata_assets.storage.warehouse.frames import finish, iso_dates, prepare
from marketdata_assets.storage.warehouse.schema import check_columns, table

# rows turned into Python tuples at a time: a partition's tuples (~1 KB a row) never all in memory
WRITE_SLICE = 25_000


def sqlite_path(url: str) -> str:
    if not url.startswith("sqlite:///"):
        raise StorageError(f"not a SQLite URL (expected sqlite:///path): {url.split(':', 1)[0]}:…")
    return url[len("sqlite:///"):] or ":memory:"


class SQLiteWarehouse(Warehouse):
    dialect = "sqlite"

    def __init__(self, url: str):
        super().__init__(url)
        self.path = sqlite_path(url)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        self.conn.close()

    def _tx(self):
        return _Tx(self.conn)

    def migrate(self) -> list[str]:
        with self._tx() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            done = {r[0] for r in cur.execute("SELECT name FROM schema_migrations")}
            applied = []
            for f in self._migration_files():
                if f.name in done:
                    continue
                for stmt in _statements(f.read_text()):
                    cur.execute(stmt)
                cur.execute("INSERT INTO schema_migrations VALUES (?, datetime('now'))", (f.name,))
                applied.append(f.name)
        return applied

    @staticmethod
    def _rows(tbl, frame, constants):
        cols = prepare(tbl, frame, constants)
        lists = []
        for c in cols:
            if c.kind == "date":
                vals = iso_dates(c.values).astype(object)
            elif c.kind in ("f8",):
                vals = c.values.astype(object)
            elif c.kind in ("ts", "i8", "i2"):
                vals = c.values.astype(object)
            else:
                vals = c.values
            if c.null.any():
                vals = np.where(c.null, None, vals)
            lists.append(vals.tolist())
        return [c.name for c in cols], list(zip(*lists, strict=True)) if lists else []

    def replace_partitions(self, writes, *, checkpoint=None):
        counts, released = [], []
        with self._tx() as cur:
            self._begin_writes(writes)
            for w in writes:
                tbl = table(w.table)
                released += self._release_cold(tbl, w.scope, w.min_offset)
                where, params = self._where(tbl, w.scope, w.min_offset)
                cur.execute(self.to_qmark(f"DELETE FROM {tbl.name}{where}"), params)  # noqa: S608
                insert = (f"INSERT INTO {tbl.name} ({', '.join(tbl.names)}) "  # noqa: S608
                          f"VALUES ({', '.join('?' * len(tbl.names))})")
                n = 0
                for part in w.slices(WRITE_SLICE):  # the tuples of one slice in memory at a time
                    cur.executemany(insert, self._rows(tbl, part, w.constants)[1])
                    n += len(part)
                counts.append(n)
            if checkpoint is not None:
                self._put_checkpoint(cur, checkpoint)
        self._forget_files(released)
        return counts

    def transaction(self):
        return self._tx()

    def tx_execute(self, sql, params=None):
        return self.conn.execute(self.to_qmark(sql), params or {}).rowcount

    def tx_insert(self, table_name, frame):
        tbl = table(table_name)
        names, rows = self._rows(tbl, frame, None)
        self.conn.executemany(f"INSERT INTO {tbl.name} ({', '.join(names)}) "  # noqa: S608
                              f"VALUES ({', '.join('?' * len(names))})", rows)
        return len(rows)

    def _snapshot(self):
        return nullcontext() if self.conn.in_transaction else _read_tx(self.conn)

    def _put_checkpoint(self, cur, cp: Checkpoint) -> None:
        names, rows = self._rows(table("ingest_checkpoints"), cp.as_frame(), None)
        cur.execute(f"INSERT OR REPLACE INTO ingest_checkpoints ({', '.join(names)}) "  # noqa: S608
                    f"VALUES ({', '.join('?' * len(names))})", rows[0])

    def upsert(self, table_name, frame, key):
        tbl = table(table_name)
        check_columns(tbl, key)
        names, rows = self._rows(tbl, frame, None)
        with self._tx() as cur:
            cur.executemany(f"INSERT OR REPLACE INTO {tbl.name} ({', '.join(names)}) "  # noqa: S608
                            f"VALUES ({', '.join('?' * len(names))})", rows)
        return len(rows)

    def read_hot(self, table_name, scope=None, columns=None, order_by=(), dates=None):
        tbl = table(table_name)
        cols = check_columns(tbl, columns or tbl.names)
        check_columns(tbl, order_by)
        where, params = self._where(tbl, scope or {}, dates=dates)
        order = f" ORDER BY {', '.join(order_by)}" if order_by else ""
        frame = pd.read_sql_query(self.to_qmark(f"SELECT {', '.join(cols)} FROM {tbl.name}{where}{order}"),  # noqa: S608
                                  self.conn, params=params)
        return finish(tbl, frame)

    def ts_param(self, ts_us):
        return int(ts_us)  # ts columns hold UTC µs integers here

    def query(self, sql, params=None):
        try:
            return pd.read_sql_query(self.to_qmark(sql), self.conn, params=params or {})
        except sqlite3.Error as exc:
            raise StorageError(f"sqlite query failed: {exc}") from exc

    def execute(self, sql, params=None):
        with self._tx() as cur:
            cur.execute(self.to_qmark(sql), params or {})
            return cur.rowcount


@contextmanager
def _read_tx(conn: sqlite3.Connection):
    """A deferred read transaction: every read inside sees the same WAL snapshot."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


class _Tx:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self):
        self.cur = self.conn.cursor()
        self.cur.execute("BEGIN IMMEDIATE")
        return self.cur

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StorageError(f"sqlite write failed: {exc}") from exc
        return False


def _statements(script: str) -> list[str]:
    """Split a migration into statements where SQLite itself says one is complete
    (semicolons inside comments or strings do not end a statement)."""
    out, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                out.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(ln.strip().startswith("--") or not ln.strip() for ln in buffer.splitlines()):
        raise StorageError(f"migration ends inside a statement: {buffer.strip()[:80]!r}")
    return out
