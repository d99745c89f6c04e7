"""The warehouse interface. Backend chosen from the URL (see ``factory.open_warehouse``).

Write rule, for every backend: ``replace_partition`` replaces exactly the rows of one
partition (instrument × trading date, optionally narrowed by ``scope`` and ``min_offset``)
with the given frame, and records the ingest checkpoint if one is given, in **one
transaction**. ``replace_partitions`` does the same for several tables at once (a step's
kept rows, base bars and quarantine, and its checkpoint) in **one transaction**, so a
reader never sees one table rewritten and another not. A re-run therefore never
duplicates, and a write that dies half-way leaves the previous contents intact.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources
from importlib.resources.abc import Traversable

import pandas as pd

from marketdata_assets.errors import StorageError
from marketdata_assets.storage.warehouse.schema import Table, check_columns, table

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
    ``source_offset >= min_offset``) by ``frame``."""

    table: str
    frame: pd.DataFrame
    scope: dict
    min_offset: int | None = None
    constants: dict | None = None


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

    # -- reads --------------------------------------------------------------------------
    @abstractmethod
    def read(self, table_name: str, scope: dict | None = None, columns: list[str] | None = None,
             order_by: tuple[str, ...] = (), dates: tuple[str | None, str | None] | None = None) -> pd.DataFrame:
        """Rows matching ``scope`` (column = value) and the trading-date range ``dates``
        ([from, to), ISO strings, either None) as a typed frame."""

    @abstractmethod
    def query(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        """Run a read-only query written with ``%(name)s`` placeholders (bound, never formatted)."""

    @abstractmethod
    def execute(self, sql: str, params: dict | None = None) -> int:
        """Run one statement with bound ``%(name)s`` parameters in its own transaction."""

    def ts_param(self, ts_us: int):
        """A UTC µs instant as a bound parameter to compare with a ``ts`` column."""
        return pd.Timestamp(int(ts_us), unit="us", tz="UTC").to_pydatetime()

    def count(self, table_name: str, scope: dict | None = None) -> int:
        tbl = table(table_name)
        where, params = self._where(tbl, scope or {})
        return int(self.query(f"SELECT COUNT(*) AS n FROM {tbl.name}{where}", params)["n"].iloc[0])  # noqa: S608

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


def _param(kind: str, value):
    if kind == "date":
        return str(value)
    return value
