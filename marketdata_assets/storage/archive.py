"""The cold archive: partitions move from the warehouse's tables to Parquet files and back.

Archive rule, per table of ``ARCHIVED_TABLES`` and partition (instrument × trading date), in
**one write transaction** holding the partition's lock:

1. read the partition's hot rows; none → nothing to do (no file, no manifest row);
2. write the Parquet file and accept it only after reading it back (row count, SHA-256 of
   the bytes, content: ``archive_files.write_verified``);
3. insert the ``archive_manifest`` row and delete the hot rows; the deleted count must equal
   the file's rows, else everything rolls back and the file is removed;
4. commit.

A crash before the commit leaves the hot rows (and at worst a file no manifest row names,
which reads ignore and the next archive run overwrites); after it, the manifest row and the
verified file. Reads go through the manifest, so a partition is never counted twice.

Restore is the reverse in one transaction: the file is read and refused unless its SHA-256
and row count match the manifest (:class:`ArchiveChecksumError`, the partition stays
archived), its rows are inserted and the manifest row deleted; the file is removed after
the commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import pandas as pd

from marketdata_assets.storage import archive_files
from marketdata_assets.storage.archive_files import ArchiveChecksumError
from marketdata_assets.storage.warehouse import Warehouse, partition_scope
from marketdata_assets.storage.warehouse.schema import ARCHIVED_TABLES, table

log = logging.getLogger("marketdata.archive")
_DROP_MANIFEST = ("DELETE FROM archive_manifest WHERE table_name = %(t)s AND instrument = %(i)s "
                  "AND trading_date = %(d)s")


@dataclass(frozen=True)
class Archived:
    """One table's partition as it sits in the archive."""

    table: str
    instrument: str
    trading_date: str
    path: str
    rows: int
    bytes: int
    sha256: str


def archive_partition(wh: Warehouse, root: str, instrument: str, trading_date: date | str,
                      tables: tuple[str, ...] = ARCHIVED_TABLES, now: pd.Timestamp | None = None) -> list[Archived]:
    """Move every table's rows of one partition to the archive under ``root`` (see the module
    docstring). Returns what this call archived; an already archived or empty table is skipped."""
    day = str(trading_date)[:10]
    root = archive_files.normalize_root(root)
    done = []
    for name in tables:
        item = _archive_table(wh, root, name, instrument, day, now or pd.Timestamp.now(tz="UTC"))
        if item is not None:
            done.append(item)
    return done


def _archive_table(wh: Warehouse, root: str, name: str, instrument: str, day: str,
                   now: pd.Timestamp) -> Archived | None:
    tbl = table(name)
    scope = partition_scope(instrument, day)
    uri = archive_files.partition_uri(root, name, instrument, day)
    with wh.transaction():
        wh.lock_partition(name, instrument, day)
        frame = wh.read_hot(name, scope)
        if frame.empty:
            return None
        arrow = archive_files.to_arrow(tbl, frame)
        info = archive_files.write_verified(uri, arrow)
        try:
            ts = arrow.column("ts").drop_null()
            wh.tx_insert("archive_manifest", pd.DataFrame([{
                "table_name": name, "instrument": instrument, "trading_date": day, "path": uri,
                "rows": info.rows, "bytes": info.bytes, "sha256": info.sha256,
                "min_ts": _ts(ts, "min"), "max_ts": _ts(ts, "max"),
                "schema_version": archive_files.schema_version(tbl), "archived_at": now,
            }]))
            wh.bump_version(instrument, day)
            where, params = wh._where(tbl, scope)
            deleted = wh.tx_execute(f"DELETE FROM {tbl.name}{where}", params)  # noqa: S608
            if deleted != info.rows:
                raise ArchiveChecksumError(f"{uri}: partition changed while archiving "
                                           f"({deleted} hot rows deleted, {info.rows} archived)")
        except BaseException:
            archive_files.remove(uri)
            raise
    log.info("archived %s %s %s: %d rows → %s", name, instrument, day, info.rows, uri)
    return Archived(name, instrument, day, uri, info.rows, info.bytes, info.sha256)


def _ts(column, how: str):
    if len(column) == 0:
        return None
    value = (column.to_pandas().min() if how == "min" else column.to_pandas().max())
    return pd.Timestamp(value)


def manifest(wh: Warehouse, instrument: str | None = None,
             dates: tuple[str | None, str | None] | None = None) -> pd.DataFrame:
    """The manifest rows, optionally of one instrument and a trading-date range [from, to)."""
    scope = {"instrument": instrument} if instrument else {}
    return wh.read("archive_manifest", scope, dates=dates, order_by=("trading_date", "table_name"))


def restore_partitions(wh: Warehouse, instrument: str, first: date | str, last: date | str,
                       tables: tuple[str, ...] = ARCHIVED_TABLES) -> list[Archived]:
    """Bring the archived partitions of ``instrument`` with ``first <= trading_date <= last``
    back to the hot tables. Each table-partition is one transaction; a file failing its
    checksum raises :class:`ArchiveChecksumError` and stays archived (earlier ones are restored)."""
    entries = manifest(wh, instrument, (str(first)[:10], _next_day(last)))
    done = []
    for entry in entries.itertuples(index=False):
        if entry.table_name not in tables:
            continue
        tbl = table(entry.table_name)
        with wh.transaction():
            wh.lock_partition(tbl.name, entry.instrument, entry.trading_date)
            still = wh.read_hot("archive_manifest", {"table_name": tbl.name, "instrument": entry.instrument,
                                                     "trading_date": entry.trading_date})
            if still.empty:
                continue
            wh.tx_insert(tbl.name, wh.checked_rows(tbl, entry))
            wh.bump_version(entry.instrument, entry.trading_date)
            wh.tx_execute(_DROP_MANIFEST, {"t": tbl.name, "i": entry.instrument, "d": entry.trading_date})
        archive_files.remove(entry.path)
        log.info("restored %s %s %s: %d rows from %s", tbl.name, entry.instrument, entry.trading_date,
                 entry.rows, entry.path)
        done.append(Archived(tbl.name, entry.instrument, entry.trading_date, entry.path, int(entry.rows),
                             int(entry.bytes), entry.sha256))
    return done


def _next_day(day: date | str) -> str:
    return (date.fromisoformat(str(day)[:10]) + pd.Timedelta(days=1)).isoformat()


@dataclass(frozen=True)
class VerifyReport:
    checked: int
    missing: list[str]
    corrupt: list[str]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.corrupt


def verify_archive(wh: Warehouse) -> VerifyReport:
    """Re-check every manifest file: present, SHA-256 of its bytes and row count as recorded."""
    missing, corrupt = [], []
    entries = manifest(wh)
    for entry in entries.itertuples(index=False):
        fs, path = archive_files.filesystem(entry.path)
        if fs.get_file_info(path).type.name != "File":
            missing.append(entry.path)
            continue
        try:
            arrow = archive_files.read_checked(entry.path, entry.sha256)
        except ArchiveChecksumError:
            corrupt.append(entry.path)
            continue
        except Exception as exc:  # unreadable Parquet despite matching bytes is still corrupt
            log.warning("%s: %s", entry.path, exc)
            corrupt.append(entry.path)
            continue
        if arrow.num_rows != int(entry.rows):
            corrupt.append(entry.path)
    return VerifyReport(len(entries), missing, corrupt)
