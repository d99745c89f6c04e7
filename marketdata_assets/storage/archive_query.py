"""Querying the archive directly (DuckDB, ``pyarrow.dataset``), outside the warehouse's reads.

The manifest is the list of live files: a file it does not name (left by an archiver killed
before its commit, whose rows are still hot) must not be read, or those rows would count
twice. So list the files with :func:`cold_files` (or ``SELECT path FROM archive_manifest``)
rather than globbing the directory, and add the hot rows with ``Warehouse.read_hot``::

    files = cold_files(wh, "ohlc_bars", "ESH24", ("2024-03-04", "2024-03-09"))
    hot = wh.read_hot("ohlc_bars", {"instrument": "ESH24", "timeframe": "1m"}, dates=("2024-03-04", "2024-03-09"))
    duckdb.sql("SELECT * REPLACE (CAST(trading_date AS VARCHAR) AS trading_date) FROM read_parquet($files) "
               "WHERE timeframe = '1m' UNION ALL BY NAME SELECT * FROM hot ORDER BY ts", params={"files": files})
"""

from __future__ import annotations

import pyarrow.dataset as ds

from marketdata_assets.storage import archive_files
from marketdata_assets.storage.warehouse import Warehouse
from marketdata_assets.storage.warehouse.schema import table


def cold_files(wh: Warehouse, table_name: str, instrument: str | None = None,
               dates: tuple[str | None, str | None] | None = None) -> list[str]:
    """Paths of the archived partitions of ``table_name`` (trading dates in [from, to))."""
    scope = {"table_name": table(table_name).name, **({"instrument": instrument} if instrument else {})}
    return wh.read("archive_manifest", scope, columns=["path", "trading_date", "instrument"],
                   dates=dates,
                   order_by=("trading_date", "instrument"))["path"].tolist()


def cold_dataset(wh: Warehouse, table_name: str, instrument: str | None = None,
                 dates: tuple[str | None, str | None] | None = None) -> ds.Dataset:
    """A ``pyarrow.dataset`` over exactly the live archive files of ``table_name``."""
    files = cold_files(wh, table_name, instrument, dates)
    schema = archive_files.arrow_schema(table(table_name))
    if not files:
        return ds.dataset([], schema=schema, format="parquet")
    fs, _ = archive_files.filesystem(files[0])
    return ds.dataset([archive_files.filesystem(f)[1] for f in files], schema=schema, format="parquet",
                      filesystem=fs)
