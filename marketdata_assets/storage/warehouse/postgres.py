"""PostgreSQL backend (psycopg 3), with TimescaleDB hypertables and compression when the
extension is usable (installed and preloaded: ``timescale.py``).

Partition writes run ``DELETE`` of the partition's rows and a binary ``COPY`` of the new
rows straight into the table inside one transaction. That keeps the one-transaction rule
(a killed writer rolls back, readers see the old rows until commit) without the second
copy a staging table would cost. On the declaratively partitioned tick tables (plain
PostgreSQL, ``pgswap.py``) a whole-partition write is a swap of the partition's leaf table
instead, in the same transaction. Reads fetch each column of a partition as one
aggregated value decoded with numpy (``pgarrays``), with server-side bound parameters.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager
from itertools import chain

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql as pgsql
from psycopg.pq import TransactionStatus

from marketdata_assets.errors import StorageError
from marketdata_assets.storage.warehouse import pgarrays, pgcopy, pgswap, timescale
from marketdata_assets.storage.warehouse.base import Checkpoint, Warehouse
from marketdata_assets.storage.warehouse.frames import finish, iso_dates, prepare
from marketdata_assets.storage.warehouse.schema import Table, check_columns, table

_MIGRATION_LOCK = 7_411_202_601  # pg_advisory_xact_lock key for migrations
COPY_SLICE = 200_000  # rows encoded per COPY message batch


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url


class PostgresWarehouse(Warehouse):
    dialect = "postgres"

    def __init__(self, url: str):
        super().__init__(url.replace("postgresql+psycopg://", "postgresql://"))
        try:
            self.conn = psycopg.connect(self.url, autocommit=True)
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL at {redact(self.url)}: "
                               f"{type(exc).__name__}") from exc
        self.conn.execute("SET TIME ZONE 'UTC'")
        self.lift_decompress_cap = timescale.has_decompress_cap(self.conn)
        self.declarative = pgswap.declarative_tables(self.conn)

    def close(self) -> None:
        self.conn.close()

    def migrate(self) -> list[str]:
        from marketdata_assets.settings import get_settings

        applied = []
        decision = timescale.inspect(self.conn)
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            self.conn.execute("SELECT set_config('marketdata.compress_after_days', %s, true)",
                              (str(get_settings().compress_after_days),))
            self.conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                              "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            done = {r[0] for r in self.conn.execute("SELECT name FROM schema_migrations")}
            decision = timescale.after_partitioning(decision, pgswap.declarative_tables(self.conn), done)
            timescale.warn_once(decision, redact(self.url))
            # 014 partitions the tick tables only where no hypertables will be (sql/postgres/014)
            self.conn.execute("SELECT set_config('marketdata.timescale', %s, true)",
                              ("on" if decision.apply else "off",))
            for f in self._migration_files(optional_available=decision.apply):
                if f.name in done:
                    continue
                self.conn.execute(f.read_text().encode())
                self.conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (f.name,))
                applied.append(f.name)
        self.declarative = pgswap.declarative_tables(self.conn)
        return applied

    def _uncap(self) -> None:
        """Inside a rewrite transaction on TimescaleDB: no cap on tuples decompressed (DESIGN §8)."""
        if self.lift_decompress_cap:
            self.conn.execute("SET LOCAL timescaledb.max_tuples_decompressed_per_dml_transaction = 0")

    def _sql_where(self, tbl: Table, scope: dict, min_offset: int | None = None, dates=None):
        where, params = self._where(tbl, scope, min_offset, dates)
        return pgsql.SQL(where), params

    def replace_partitions(self, writes, *, checkpoint=None):
        counts, name, released, swaps = [], writes[0].table if writes else "-", [], []
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                self._uncap()
                self._begin_writes(writes)
                for w in writes:
                    tbl = table(w.table)
                    name = tbl.name
                    released += self._release_cold(tbl, w.scope, w.min_offset)
                    if tbl.name in self.declarative and set(w.scope) == {"instrument", "trading_date"} \
                            and w.min_offset is None:
                        staging, n = self._stage(cur, tbl, w)
                        swaps.append((tbl.name, w.scope, staging))
                    else:
                        n = self._delete_and_copy(cur, tbl, w)
                    counts.append(n)
                for table_name, scope, staging in swaps:   # last: the parent is locked for milliseconds
                    name = table_name
                    pgswap.swap_in(cur, table_name, scope["instrument"], scope["trading_date"], staging)
                if checkpoint is not None:
                    name = "ingest_checkpoints"
                    self._put_checkpoint(cur, checkpoint)
        except psycopg.Error as exc:
            raise StorageError(f"postgres write to {name} failed: {type(exc).__name__}: "
                               f"{exc.diag.message_primary or exc}") from exc
        self._forget_files(released)
        return counts

    def _stage(self, cur, tbl: Table, w) -> tuple[str | None, int]:
        """A whole-partition write on a partitioned table: the filled, indexed staging table
        that :func:`pgswap.swap_in` attaches (``None`` for no rows), and its row count."""
        instrument, day = w.scope["instrument"], w.scope["trading_date"]
        self.lock_partition(tbl.name, instrument, day)
        parts = w.slices(COPY_SLICE)
        first = next(parts, None)   # a stream is consumed once: peek for "no rows"
        if first is None:
            return None, 0
        staging = pgswap.create_staging(cur, tbl.name, instrument, day)
        n = self._copy(cur, staging, tbl, chain([first], parts), w.constants, freeze=True)
        pgswap.index_staging(cur, tbl.name, staging)
        return staging, n

    def _delete_and_copy(self, cur, tbl: Table, w) -> int:
        """Any other write: ``DELETE`` of the scope, then ``COPY``; on a partitioned table into
        the partition's leaf (a narrower write of one partition) or through the parent (a
        write wider than one partition: one ``COPY`` per slice, its leaves created first)."""
        target = tbl.name
        wider = False
        if tbl.name in self.declarative and {"instrument", "trading_date"} <= set(w.scope):
            self.lock_partition(tbl.name, w.scope["instrument"], w.scope["trading_date"])
            target = pgswap.ensure_leaf(cur, tbl.name, w.scope["instrument"], w.scope["trading_date"])
        elif tbl.name in self.declarative:
            wider = True
        where, params = self._sql_where(tbl, w.scope, w.min_offset)
        cur.execute(pgsql.SQL("DELETE FROM {}").format(pgsql.Identifier(target)) + where, params)
        if not wider:
            return self._copy(cur, target, tbl, w.slices(COPY_SLICE), w.constants)
        n = 0
        for part in w.slices(COPY_SLICE):   # no DDL while a COPY runs: leaves before each slice's COPY
            self._ensure_leaves(cur, tbl, part.assign(**(w.constants or {})))
            n += self._copy(cur, target, tbl, [part], w.constants)
        return n

    @staticmethod
    def _copy(cur, target: str, tbl: Table, parts: Iterable[pd.DataFrame], constants: dict | None,
              freeze: bool = False) -> int:
        """One binary ``COPY`` of every frame of ``parts`` into ``target``; returns the rows."""
        collist = pgsql.SQL(", ").join(pgsql.Identifier(c) for c in tbl.names)
        options = pgsql.SQL("FORMAT BINARY, FREEZE" if freeze else "FORMAT BINARY")
        n = 0
        with cur.copy(pgsql.SQL("COPY {} ({}) FROM STDIN ({})").format(pgsql.Identifier(target), collist,
                                                                       options)) as cp:
            # slice by slice: the server parses one slice while the next is encoded
            cp.write(pgcopy.SIGNATURE)
            for part in parts:
                cp.write(memoryview(pgcopy.encode(prepare(tbl, part, constants)))[
                    len(pgcopy.SIGNATURE):-len(pgcopy.TRAILER)])
                n += len(part)
            cp.write(pgcopy.TRAILER)
        return n

    @staticmethod
    def _ensure_leaves(cur, tbl: Table, frame: pd.DataFrame) -> None:
        """Rows inserted through a partitioned parent need their partitions' leaves."""
        if len(frame):
            for instrument, day in frame[["instrument", "trading_date"]].astype(str).drop_duplicates().itertuples(
                    index=False):
                pgswap.ensure_leaf(cur, tbl.name, instrument, day)

    int16_reads = True

    @contextmanager
    def transaction(self):
        try:
            with self.conn.transaction():
                self._uncap()
                yield
        except psycopg.Error as exc:
            raise StorageError(f"postgres transaction failed: {type(exc).__name__}: "
                               f"{exc.diag.message_primary or exc}") from exc

    def tx_execute(self, sql, params=None):
        with self.conn.cursor() as cur:
            cur.execute(sql, params or {})
            return cur.rowcount

    def tx_insert(self, table_name, frame):
        tbl = table(table_name)
        cols = prepare(tbl, frame)
        if tbl.name in self.declarative:
            with self.conn.cursor() as cur:
                self._ensure_leaves(cur, tbl, frame)
        with self.conn.cursor() as cur, cur.copy(pgsql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                pgsql.Identifier(tbl.name), pgsql.SQL(", ").join(pgsql.Identifier(c.name) for c in cols))) as cp:
            cp.write(pgcopy.encode(cols))
        return len(frame)

    def lock_partition(self, table_name, instrument, trading_date):
        self.conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                          (f"{table_name}|{instrument}|{str(trading_date)[:10]}",))

    @contextmanager
    def _snapshot(self):
        if self.conn.info.transaction_status != TransactionStatus.IDLE:
            yield
            return
        with self.conn.transaction():
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield

    def _put_checkpoint(self, cur, cp: Checkpoint) -> None:
        cur.execute(
            "INSERT INTO ingest_checkpoints (source, instrument, trading_date, fingerprint, byte_offset, "
            "file_size, last_ts, run_id, updated_at) VALUES (%s, %s, %s, %s, %s, %s, "
            "CASE WHEN %s::bigint IS NULL THEN NULL ELSE to_timestamp(%s::bigint / 1e6) END, %s, now()) "
            "ON CONFLICT (source, trading_date) DO UPDATE SET instrument = EXCLUDED.instrument, "
            "fingerprint = EXCLUDED.fingerprint, byte_offset = EXCLUDED.byte_offset, "
            "file_size = EXCLUDED.file_size, last_ts = EXCLUDED.last_ts, run_id = EXCLUDED.run_id, "
            "updated_at = now()",
            (cp.source, cp.instrument, cp.trading_date, cp.fingerprint, cp.byte_offset, cp.file_size,
             cp.last_ts_us, cp.last_ts_us, cp.run_id),
        )

    def upsert(self, table_name, frame, key):
        tbl = table(table_name)
        check_columns(tbl, key)
        cols = prepare(tbl, frame)
        names = [c.name for c in cols]
        rest = [n for n in names if n not in key]
        stmt = pgsql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) DO UPDATE SET {}").format(
            pgsql.Identifier(tbl.name), pgsql.SQL(", ").join(map(pgsql.Identifier, names)),
            pgsql.SQL(", ").join(map(pgsql.Identifier, names)), pgsql.Identifier(f"_stage_{tbl.name}"),
            pgsql.SQL(", ").join(map(pgsql.Identifier, key)),
            pgsql.SQL(", ").join(pgsql.SQL("{} = EXCLUDED.{}").format(pgsql.Identifier(n), pgsql.Identifier(n))
                                 for n in rest),
        )
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(pgsql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
                pgsql.Identifier(f"_stage_{tbl.name}"), pgsql.Identifier(tbl.name)))
            with cur.copy(pgsql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                    pgsql.Identifier(f"_stage_{tbl.name}"),
                    pgsql.SQL(", ").join(map(pgsql.Identifier, names)))) as cp:
                cp.write(pgcopy.encode(cols))
            cur.execute(stmt)
        return len(frame)

    def read_hot(self, table_name, scope=None, columns=None, order_by=(), dates=None):
        tbl = table(table_name)
        cols = check_columns(tbl, columns or tbl.names)
        check_columns(tbl, order_by)
        where, params = self._sql_where(tbl, scope or {}, dates=dates)
        query = pgsql.SQL("SELECT count(*), {} FROM {}").format(
            pgsql.SQL(", ").join(pgarrays.select_expr(c, tbl.type_of(c)) for c in cols),
            pgsql.Identifier(tbl.name)) + where
        with self.conn.cursor(binary=True) as cur:
            pgarrays.register(cur)
            cur.execute(query, params)
            row = cur.fetchone()
        data = {}
        for c, value in zip(cols, row[1:], strict=True):
            kind = tbl.type_of(c)
            values, null = pgarrays.decode(kind, value)
            if kind == "date":
                values = iso_dates(values.astype(np.int64)).astype(object)
            if null is not None:
                values = values.astype(object if kind in ("text", "json", "date") else np.float64)
                values[null] = None if values.dtype == object else np.nan
            data[c] = values
        frame = pd.DataFrame(data, columns=cols)
        if order_by and len(frame) > 1:
            keys = [frame[c].to_numpy() for c in reversed(order_by)]
            frame = frame.iloc[np.lexsort(keys)].reset_index(drop=True)
        return finish(tbl, frame)

    def query(self, sql, params=None):
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, params or {})
                names = [d.name for d in cur.description] if cur.description else []
                return pd.DataFrame(cur.fetchall(), columns=names)
        except psycopg.Error as exc:
            raise StorageError(f"postgres query failed: {type(exc).__name__}: {exc.diag.message_primary}") from exc

    def execute(self, sql, params=None):
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(sql, params or {})
            return cur.rowcount
