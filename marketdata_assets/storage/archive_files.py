"""Cold archive files: layout, Parquet codec and verified writes.

Layout under the archive root (any pyarrow filesystem URI: a local directory, ``s3://…``),
hive style so DuckDB and ``pyarrow.dataset`` see the partition columns::

    <root>/table=<table>/instrument=<instrument>/date=<YYYY-MM-DD>/<instrument>_<date>_<date>.parquet

One file per table per partition: zstd, sorted by ``ts`` (NULL last), row groups of
``ROW_GROUP_ROWS`` rows with statistics, so a time-range read touches only the groups it
needs. Columns carry the warehouse's logical types (``ts`` → ``timestamp[us, UTC]``, ``date``
→ ``date32``, ``i2`` → ``int16`` …). A file is written under a hidden temporary name
(``.…tmp``, which pyarrow datasets and ``*.parquet`` globs skip), read back, compared by
row count, SHA-256 of its bytes and content, and only then renamed to its final name.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from marketdata_assets.errors import StorageError
from marketdata_assets.model import aggressor
from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.storage.warehouse.schema import ARCHIVED_TABLES, Table

ROW_GROUP_ROWS = 128 * 1024
COMPRESSION = "zstd"
_ARROW = {"ts": pa.timestamp("us", tz="UTC"), "date": pa.date32(), "f8": pa.float64(), "i8": pa.int64(),
          "i2": pa.int16(), "text": pa.string(), "json": pa.string()}
# tie-breakers after ts, so a partition's file is byte-for-byte reproducible
_SORT = {"raw_ticks": ("source_offset",), "ohlc_bars": ("timeframe", "origin"),
         "indicators": ("timeframe", "origin"), "base_bars": ("origin",), "quarantine": ("stage", "source_offset")}


class ArchiveChecksumError(StorageError):
    """An archive file's bytes do not match the manifest (names the file)."""


@dataclass(frozen=True)
class FileInfo:
    path: str
    rows: int
    bytes: int
    sha256: str


def schema_version(tbl: Table) -> str:
    """Fingerprint of a table's columns: a file of another version is read by column name."""
    return hashlib.sha256(";".join(f"{n}:{k}" for n, k in tbl.columns).encode()).hexdigest()[:12]


def arrow_schema(tbl: Table) -> pa.Schema:
    return pa.schema([pa.field(n, _ARROW[k]) for n, k in tbl.columns],
                     metadata={"marketdata.table": tbl.name, "marketdata.schema_version": schema_version(tbl)})


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) of a URI or local path."""
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), str(uri)


def normalize_root(root: str) -> str:
    """The archive root as recorded in the manifest: a URI as given, a local path made absolute
    (so reads work from any working directory)."""
    return root.rstrip("/") if "://" in root else str(Path(root).resolve())


def partition_uri(root: str, table_name: str, instrument: str, trading_date: date | str) -> str:
    if table_name not in ARCHIVED_TABLES:
        raise StorageError(f"table {table_name!r} is not archived (archived: {', '.join(ARCHIVED_TABLES)})")
    validate_instrument(instrument)
    day = date.fromisoformat(str(trading_date)[:10]).isoformat()
    return (f"{root.rstrip('/')}/table={table_name}/instrument={instrument}/date={day}/"
            f"{instrument}_{day}_{day}.parquet")


def to_arrow(tbl: Table, frame: pd.DataFrame) -> pa.Table:
    """A warehouse read result (``Warehouse.read`` types) → an Arrow table sorted for the archive."""
    arrays = []
    for name, kind in tbl.columns:
        series = frame[name] if name in frame.columns else pd.Series([None] * len(frame), dtype=object)
        if kind == "date":   # ISO text, one or two distinct values per partition: convert the distinct ones
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
            days = pa.array([date.fromisoformat(str(u)[:10]) for u in uniques], type=pa.date32())
            arrays.append(days.take(pa.array(codes, mask=codes < 0)))
        elif kind == "ts":
            arrays.append(pa.array(pd.to_datetime(series, utc=True).dt.as_unit("us"), type=_ARROW[kind]))
        elif kind in ("i8", "i2"):
            arrays.append(pa.array(series.astype("Int64"), type=_ARROW[kind]))
        elif kind in ("text", "json"):
            arrays.append(pa.array(series.astype(object).where(series.notna(), None), type=pa.string()))
        else:
            arrays.append(pa.array(series.to_numpy(dtype=np.float64, na_value=np.nan), type=pa.float64(),
                                   from_pandas=True))
    table = pa.Table.from_arrays(arrays, schema=arrow_schema(tbl))
    keys = [("ts", "ascending"), *((k, "ascending") for k in _SORT.get(tbl.name, ()))]
    return table.take(pc.sort_indices(table, sort_keys=keys))   # NULL ts sort last (the default)


def to_frame(tbl: Table, table: pa.Table, int16: bool) -> pd.DataFrame:
    """Arrow → the frame ``Warehouse.read`` returns: ``ts`` ``datetime64[us, UTC]``, dates ISO
    text, integers ``int64`` (``int16`` for ``i2`` when ``int16``) or ``float64`` with NULLs,
    text as ``object`` with ``None``. Columns missing from an older file read as NULL; a column a
    migration replaced (``_LEGACY``: ticks.side → aggressor, 012) is converted to its replacement."""
    data = {}
    n = table.num_rows
    for name in table.column_names:
        kind = tbl.type_of(name) if name in dict(tbl.columns) else "text"
        col = table.column(name)
        if kind == "ts":
            micros = col.cast(pa.int64()).to_pandas().astype("Int64")
            data[name] = pd.to_datetime(micros, unit="us", utc=True).dt.as_unit("us")
        elif kind == "date":
            text = pc.cast(col.cast(pa.date32()), pa.string()).to_numpy(zero_copy_only=False)
            data[name] = np.asarray(text, dtype=object)
        elif kind in ("i8", "i2"):
            if col.null_count:
                data[name] = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
            else:
                data[name] = col.to_numpy().astype(np.int16 if kind == "i2" and int16 else np.int64)
        elif kind == "f8":
            data[name] = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
        else:
            data[name] = col.to_pandas().to_numpy(dtype=object) if n else np.empty(0, dtype=object)
    for (name, old), (new, convert) in _LEGACY.items():
        if name == tbl.name and old in data and new not in data:
            data[new] = convert(data.pop(old)).astype(np.int16 if int16 else np.int64)
    return pd.DataFrame(data, columns=[c for c in data])


# columns a migration replaced: (table, column in older files) → (its replacement, conversion)
_LEGACY = {("ticks", "side"): ("aggressor", aggressor.from_names)}   # 012_aggressor


def serialize(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression=COMPRESSION, row_group_size=ROW_GROUP_ROWS,
                   write_statistics=True, use_dictionary=True)
    return sink.getvalue()


def write_verified(uri: str, table: pa.Table) -> FileInfo:
    """Write ``table`` to ``uri`` and return its identity only after the bytes read back from
    storage hash and parse to exactly what was written (see the module docstring)."""
    payload = serialize(table)
    digest = hashlib.sha256(payload).hexdigest()
    fs, path = filesystem(uri)
    folder, name = path.rsplit("/", 1)
    tmp = f"{folder}/.{name}.{uuid.uuid4().hex[:8]}.tmp"
    fs.create_dir(folder, recursive=True)
    try:
        with fs.open_output_stream(tmp) as out:
            out.write(payload)
        with fs.open_input_stream(tmp) as src:
            back = src.read()
        if hashlib.sha256(back).hexdigest() != digest:
            raise ArchiveChecksumError(f"{uri}: bytes read back differ from the bytes written")
        reread = pq.read_table(pa.BufferReader(back))
        if reread.num_rows != table.num_rows or not reread.equals(table):
            raise ArchiveChecksumError(f"{uri}: read back {reread.num_rows} rows, wrote {table.num_rows}")
        fs.move(tmp, path)
    except BaseException:
        _remove(fs, tmp)
        raise
    return FileInfo(uri, table.num_rows, len(payload), digest)


def read_checked(uri: str, sha256: str) -> pa.Table:
    """The whole file, refused with :class:`ArchiveChecksumError` unless its bytes hash to ``sha256``."""
    fs, path = filesystem(uri)
    try:
        with fs.open_input_stream(path) as src:
            payload = src.read()
    except (FileNotFoundError, OSError) as exc:
        raise ArchiveChecksumError(f"{uri}: archive file missing or unreadable ({type(exc).__name__})") from exc
    if hashlib.sha256(payload).hexdigest() != sha256:
        raise ArchiveChecksumError(f"{uri}: SHA-256 does not match the manifest (file corrupt or replaced)")
    return pq.read_table(pa.BufferReader(payload))


def read_columns(uri: str, columns: list[str] | None, filters: list | None) -> pa.Table:
    """Selected columns and rows (pyarrow filter tuples) of one file, using row-group statistics."""
    fs, path = filesystem(uri)
    schema = pq.read_schema(path, filesystem=fs)
    present = [c for c in columns if c in schema.names] if columns is not None else None
    if present is not None:   # a file archived before a column replaced an older one: read the older
        present += [old for (_, old), (new, _) in _LEGACY.items() if new in columns and new not in schema.names
                    and old in schema.names and old not in present]
    return pq.read_table(path, filesystem=fs, columns=present, filters=filters or None)


def remove(uri: str) -> bool:
    fs, path = filesystem(uri)
    return _remove(fs, path)


def _remove(fs: pafs.FileSystem, path: str) -> bool:
    try:
        fs.delete_file(path)
        return True
    except (FileNotFoundError, OSError):
        return False
