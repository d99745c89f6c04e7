"""The warehouse interface. Backend chosen from the URL (see ``factory.open_warehouse``).

Write rule, for every backend: ``replace_partition`` replaces exactly the rows of one
partition (instrument × trading date, optionally narrowed by ``scope`` and ``min_offset``)
with the given frame, and records the ingest checkpoint if one is given, in **one
transaction**. ``replace_partitions`` does the same for several tables at once (a step's
kept rows, base bars and quarantine, and its checkpoint) in **one transaction**, so a
reader never sees one table rewritten and another not. A re-run therefore never
duplicates, and a write that dies half-way leaves the previous contents intact.

Hot and cold: for the archived tables (``schema.ARCHIVED_TABLES``) ``read``, ``count``,
``partition_counts``, ``spans`` and ``total`` return hot rows and cold (archived Parquet)
rows together, read in one snapshot (see ``cold.py``). Every write of ``replace_partitions``
on an archived partition takes it back in the same transaction: a whole-partition rewrite
drops the manifest row, a narrower one (``scope`` beyond instrument/date or ``min_offset``)
first restores the checked cold rows into the table; the files are removed after the commit.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from importlib import resources
from importlib.resources.abc import Traversable

import pandas as pd

from marketdata_assets.errors import StorageError
from marketdata_assets.storage import archive_files
from marketdata_assets.storage.warehouse import cold
from marketdata_assets.storage.warehouse.schema import Table, check_columns, table

log = logging.getLogger("marketdata.warehouse")

MIGRATIONS_PACKAGE = "marketdata_assets.migrations"   # the top-level sql/, mapped by setup.py
_MIGRATION_NAME = re.compile(r"[0-9]{3}_\w+\.sql")
_PYFORMAT = re.compile(r"%\((\w+)\)s")


def migration_files(dialect: str, optional_available: bool = False) -> list[Traversable]:
    """The numbered migrations of ``dialect`` shipped in the package, in order; ``1xx`` files
    are optional features (TimescaleDB), included only when ``optional_available``.

    Raises :class:`StorageError` when the package holds none: a warehouse without its
    schema would only fail later, at the first read, with "no such table"."""
    try:
        folder = resources.files(MIGRATIONS_PACKAGE) / dialect
        files = sorted((f for f in folder.iterdir() if _MIGRATION_NAME.fullmatch(f.name)), key=lambda f: f.name)
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError) as exc:
        raise StorageError(f"no {dialect} migrations in package {MIGRATIONS_PACKAGE}: {exc} "
                           "(was the package built without its sql/ data?)") from exc
    if not files:
        raise StorageError(f"no {dialect} migrations (NNN_name.sql) in package {MIGRATIONS_PACKAGE} "
                           "(was the package built without its sql/ data?)")
    return [f for f in files if not f.name.startswith("1") or optional_available]


@dataclass(frozen=True)
class Checkpoint:
    """How far a source file has been read for one trading date."""

    source: str
    instrument: str
    trading_date: date
    fingerprint: str
    byte_offset: int
    file_size: int
    last_ts_us: int | None
    run_id: str

    def as_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "source": self.source, "instrument": self.instrument, "trading_date": self.trading_date,
            "fingerprint": self.fingerprint, "byte_offset": self.byte_offset, "file_size": self.file_size,
            "last_ts": self.last_ts_us, "run_id": self.run_id,
        }]).astype({"last_ts": "Int64"})


@dataclass(frozen=True)
class PartitionWrite:
    """One table's share of a partition write: replace the rows matching ``scope`` (and
    ``source_offset >= min_offset``) by ``frame``, or by every frame of a *stream* (an
    iterable of frames, consumed once, inside the transaction, while it is written: rows
    too many to hold at once, e.g. the quarantine rows of a large file, are produced,
    written and dropped a slice at a time)."""

    table: str
    frame: pd.DataFrame | Iterable[pd.DataFrame]
    scope: dict
    min_offset: int | None = None
    constants: dict | None = None

    def slices(self, size: int) -> Iterator[pd.DataFrame]:
        """The rows to write, at most ``size`` at a time, in order."""
        for frame in (self.frame,) if isinstance(self.frame, pd.DataFrame) else self.frame:
            for lo in range(0, len(frame), size):
                yield frame.iloc[lo:lo + size]


def partition_scope(instrument: str, trading_date: date | str, **extra) -> dict:
    return {"instrument": instrument, "trading_date": str(trading_date), **extra}


class Warehouse(ABC):
    dialect: str

    def __init__(self, url: str):
        self.url = url

    # -- lifecycle ----------------------------------------------------------------------
    @abstractmethod
    def migrate(self) -> list[str]:
        """Apply the numbered migrations of ``sql/<dialect>/`` (package data) not applied yet; return their names."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _migration_files(self, optional_available: bool = False) -> list[Traversable]:
        return migration_files(self.dialect, optional_available)

    # -- writes -------------------------------------------------------------------------
    def replace_partition(self, table_name: str, frame: pd.DataFrame, scope: dict, *,
                          min_offset: int | None = None, checkpoint: Checkpoint | None = None,
                          constants: dict | None = None) -> int:
        """Replace the rows matching ``scope`` (and ``source_offset >= min_offset``) by ``frame``."""
        return self.replace_partitions([PartitionWrite(table_name, frame, scope, min_offset, constants)],
                                       checkpoint=checkpoint)[0]

    @abstractmethod
    def replace_partitions(self, writes: Sequence[PartitionWrite], *,
                           checkpoint: Checkpoint | None = None) -> list[int]:
        """Every write of ``writes`` (in order) and the checkpoint, in one transaction;
        returns the rows written per write. Each frame is prepared inside the transaction."""

    @abstractmethod
    def upsert(self, table_name: str, frame: pd.DataFrame, key: tuple[str, ...]) -> int:
        """Insert rows, replacing those with the same ``key``; returns rows written."""

    # -- transactions the archive composes (``storage/archive.py``) -------------------------
    @abstractmethod
    def transaction(self) -> AbstractContextManager:
        """One write transaction; the ``tx_*`` methods and reads run inside it."""

    @abstractmethod
    def tx_execute(self, sql: str, params: dict | None = None) -> int:
        """One statement inside the current transaction; returns the affected row count."""

    @abstractmethod
    def tx_insert(self, table_name: str, frame: pd.DataFrame) -> int:
        """Insert ``frame`` into ``table_name`` inside the current transaction."""

    def lock_partition(self, table_name: str, instrument: str, trading_date) -> None:
        """Serialize writers of one partition of one table until the transaction ends
        (SQLite: the write transaction already holds the database lock)."""
        return None

    def bump_version(self, instrument: str, trading_date) -> None:
        """Inside a write transaction: a new generation of the partition (``partition_versions``)."""
        self.tx_execute("INSERT INTO partition_versions (instrument, trading_date, version) "
                        "VALUES (%(i)s, %(d)s, 1) ON CONFLICT (instrument, trading_date) "
                        "DO UPDATE SET version = partition_versions.version + 1",
                        {"i": instrument, "d": str(trading_date)[:10]})

    def _begin_writes(self, writes: Sequence[PartitionWrite]) -> None:
        """First inside ``replace_partitions``' transaction: lock every archived table-partition
        the writes replace (sorted), then bump each written partition's version once. Locks
        come before the ``partition_versions`` row, in the order archive and restore take
        them, so a writer and the archiver never wait on each other in a cycle."""
        parts = sorted({(table(w.table).name, w.scope["instrument"], str(w.scope["trading_date"])[:10])
                        for w in writes if "instrument" in w.scope and "trading_date" in w.scope})
        for name, instrument, day in parts:
            if cold.is_archived(name):
                self.lock_partition(name, instrument, day)
        for instrument, day in sorted({(i, d) for name, i, d in parts if table(name).partitioned}):
            self.bump_version(instrument, day)

    def _release_cold(self, tbl: Table, scope: dict, min_offset: int | None) -> list[str]:
        """Inside one write of ``replace_partitions`` (after :meth:`_begin_writes`): take the
        partition back from the archive (see the module docstring); returns the files to
        remove after the commit."""
        if not cold.is_archived(tbl.name):
            return []
        entries = self._manifest(tbl.name, scope)
        whole = not cold.extra_scope(scope) and min_offset is None
        for entry in entries.itertuples(index=False):
            if not whole:
                self.tx_insert(tbl.name, self.checked_rows(tbl, entry))
            self.tx_execute("DELETE FROM archive_manifest WHERE table_name = %(t)s AND instrument = %(i)s "
                            "AND trading_date = %(d)s", {"t": tbl.name, "i": entry.instrument,
                                                         "d": str(entry.trading_date)})
        return list(entries["path"])

    def checked_rows(self, tbl: Table, entry) -> pd.DataFrame:
        """The rows of one manifest entry's file, refused unless its checksum and row count match."""
        arrow = archive_files.read_checked(entry.path, entry.sha256)
        if arrow.num_rows != int(entry.rows):
            raise archive_files.ArchiveChecksumError(
                f"{entry.path}: {arrow.num_rows} rows, the manifest says {int(entry.rows)}")
        return archive_files.to_frame(tbl, arrow, self.int16_reads)

    @staticmethod
    def _forget_files(paths: list[str]) -> None:
        for path in paths:
            if not archive_files.remove(path):
                log.warning("archive file %s was released but could not be removed", path)

    # -- reads --------------------------------------------------------------------------
    @abstractmethod
    def read_hot(self, table_name: str, scope: dict | None = None, columns: list[str] | None = None,
                  order_by: tuple[str, ...] = (), dates: tuple[str | None, str | None] | None = None
                  ) -> pd.DataFrame:
        """``read`` of the rows in the database only."""

    @abstractmethod
    def _snapshot(self) -> AbstractContextManager:
        """Reads inside see one consistent state (a no-op inside a transaction)."""

    int16_reads = False   # whether hot reads return ``i2`` columns as int16

    def read(self, table_name: str, scope: dict | None = None, columns: list[str] | None = None,
             order_by: tuple[str, ...] = (), dates: tuple[str | None, str | None] | None = None) -> pd.DataFrame:
        """Rows matching ``scope`` (column = value) and the trading-date range ``dates``
        ([from, to), ISO strings, either None) as a typed frame, hot and cold together."""
        if not cold.is_archived(table_name):
            return self.read_hot(table_name, scope, columns, order_by, dates)
        tbl = table(table_name)
        for attempt in (1, 2):
            with self._snapshot():
                entries = self._manifest(table_name, scope or {}, dates)
                hot = self.read_hot(table_name, scope, columns, order_by, dates)
            if entries.empty:
                return hot
            try:
                return cold.merge(hot, cold.read_files(tbl, entries, scope or {}, columns, self.int16_reads),
                                  order_by)
            except FileNotFoundError:   # restored by a writer after our snapshot: read again
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def cold_dates(self, table_name: str, instrument: str,
                   dates: tuple[str | None, str | None] | None = None) -> list[str]:
        """Trading dates (ISO, ascending) of ``instrument``'s archived partitions of ``table_name``
        in ``dates`` ([from, to)); for SQL on the hot table that must not miss the cold ones."""
        if not cold.is_archived(table_name):
            return []
        return [str(d)[:10] for d in self._manifest(table_name, {"instrument": instrument}, dates)["trading_date"]]

    def _manifest(self, table_name: str, scope: dict, dates=None) -> pd.DataFrame:
        return self.read_hot("archive_manifest", cold.manifest_scope(table_name, scope), dates=dates,
                              order_by=("trading_date", "instrument"))

    @abstractmethod
    def query(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        """Run a read-only query written with ``%(name)s`` placeholders (bound, never formatted);
        sees hot rows only (use ``read``/``count``/``partition_counts``/``spans``/``total``)."""

    @abstractmethod
    def execute(self, sql: str, params: dict | None = None) -> int:
        """Run one statement with bound ``%(name)s`` parameters in its own transaction."""

    def ts_param(self, ts_us: int):
        """A UTC µs instant as a bound parameter to compare with a ``ts`` column."""
        return pd.Timestamp(int(ts_us), unit="us", tz="UTC").to_pydatetime()

    def count(self, table_name: str, scope: dict | None = None) -> int:
        tbl = table(table_name)
        where, params = self._where(tbl, scope or {})
        with self._snapshot():
            n = int(self.query(f"SELECT COUNT(*) AS n FROM {tbl.name}{where}", params)["n"].iloc[0])  # noqa: S608
            entries = self._manifest(table_name, scope or {}) if cold.is_archived(table_name) else None
        return n if entries is None else n + cold.cold_count(tbl, entries, scope or {})

    def partition_counts(self, table_name: str, scope: dict | None = None,
                         dates: tuple[str | None, str | None] | None = None) -> pd.DataFrame:
        """Rows per partition, hot and cold: ``instrument``, ``trading_date`` (ISO), ``n``,
        sorted by trading date then instrument."""
        tbl = table(table_name)
        where, params = self._where(tbl, scope or {}, dates=dates)
        with self._snapshot():
            hot = self.query(f"SELECT instrument, trading_date, COUNT(*) AS n FROM {tbl.name}{where} "  # noqa: S608
                             "GROUP BY instrument, trading_date", params)
            entries = self._manifest(table_name, scope or {}, dates)
        frame = pd.concat([f for f in (hot, cold.cold_partition_counts(tbl, entries, scope or {})) if len(f)]
                          or [hot], ignore_index=True)
        frame["trading_date"] = frame["trading_date"].map(lambda d: str(d)[:10])
        frame["n"] = frame["n"].astype("int64")
        return frame.sort_values(["trading_date", "instrument"], ignore_index=True)

    def spans(self, table_name: str) -> pd.DataFrame:
        """Per instrument, hot and cold: ``n`` rows, ``first_ts``, ``last_ts`` (UTC)."""
        tbl = table(table_name)
        with self._snapshot():
            hot = self._read_spans(tbl)
            entries = self._manifest(table_name, {})
        parts = [f for f in (hot, cold.cold_spans(entries)) if len(f)]
        if not parts:
            return hot
        both = pd.concat(parts, ignore_index=True).astype({"n": "int64"})
        return both.groupby("instrument", as_index=False).agg(
            n=("n", "sum"), first_ts=("first_ts", "min"), last_ts=("last_ts", "max"))

    def _read_spans(self, tbl: Table) -> pd.DataFrame:
        frame = self.query(f"SELECT instrument, COUNT(*) AS n, MIN(ts) AS first_ts, MAX(ts) AS last_ts "  # noqa: S608
                           f"FROM {tbl.name} GROUP BY instrument")
        frame["first_ts"] = _utc(frame["first_ts"])
        frame["last_ts"] = _utc(frame["last_ts"])
        return frame.astype({"n": "int64"})

    def total(self, table_name: str, column: str) -> tuple[int, float]:
        """(rows, sum of the numeric ``column``), hot and cold."""
        tbl = table(table_name)
        check_columns(tbl, [column])
        with self._snapshot():
            hot = self.query(f"SELECT COUNT(*) AS n, SUM({column}) AS s FROM {tbl.name}")  # noqa: S608
            entries = self._manifest(table_name, {})
        n, s = int(hot["n"].iloc[0]), hot["s"].iloc[0]
        s = 0.0 if s is None or pd.isna(s) else float(s)
        if entries.empty:
            return n, s
        cn, cs = cold.cold_total(tbl, entries, column)
        return n + cn, s + cs

    def get_checkpoint(self, source: str, trading_date: date | str) -> Checkpoint | None:
        rows = self.read("ingest_checkpoints", {"source": source, "trading_date": str(trading_date)})
        if rows.empty:
            return None
        r = rows.iloc[0]
        return Checkpoint(
            source=r["source"], instrument=r["instrument"], trading_date=date.fromisoformat(r["trading_date"]),
            fingerprint=r["fingerprint"], byte_offset=int(r["byte_offset"]), file_size=int(r["file_size"]),
            last_ts_us=None if pd.isna(r["last_ts"]) else int(r["last_ts"].value // 1000), run_id=r["run_id"],
        )

    # -- helpers ------------------------------------------------------------------------
    @staticmethod
    def _where(tbl: Table, scope: dict, min_offset: int | None = None,
               dates: tuple[str | None, str | None] | None = None) -> tuple[str, dict]:
        """``WHERE`` clause over whitelisted columns with bound parameters; ``dates`` adds
        ``trading_date >= from`` / ``trading_date < to`` (ISO dates, either may be None)."""
        check_columns(tbl, scope)
        parts = [f"{col} = %(w_{col})s" for col in scope]
        params = {f"w_{col}": _param(tbl.type_of(col), val) for col, val in scope.items()}
        if min_offset is not None:
            parts.append("source_offset >= %(w_min_offset)s")
            params["w_min_offset"] = int(min_offset)
        if dates is not None:
            lo, hi = dates
            if lo is not None:
                parts.append("trading_date >= %(w_date_from)s")
                params["w_date_from"] = str(lo)
            if hi is not None:
                parts.append("trading_date < %(w_date_to)s")
                params["w_date_to"] = str(hi)
        return (" WHERE " + " AND ".join(parts) if parts else ""), params

    @staticmethod
    def to_qmark(sql: str) -> str:
        return _PYFORMAT.sub(r":\1", sql)


def _utc(series: pd.Series) -> pd.Series:
    """Timestamps from ``query`` (Unix µs on SQLite, datetimes on PostgreSQL) → UTC µs."""
    if pd.api.types.is_numeric_dtype(series) or series.dtype == object and series.map(
            lambda v: isinstance(v, int)).all():
        return pd.to_datetime(series.astype("Int64"), unit="us", utc=True).dt.as_unit("us")
    return pd.to_datetime(series, utc=True).dt.as_unit("us")


def _param(kind: str, value):
    if kind == "date":
        return str(value)
    return value
