"""Warehouse backups: take one, verify it by restoring it into a scratch warehouse, restore it.

- SQLite: the online backup API (``sqlite3.Connection.backup`` in one step), a consistent copy
  while writers run; the file is ``warehouse-<UTC time>.sqlite``.
- PostgreSQL: ``pg_dump -Fc`` (``warehouse-<UTC time>.dump``) of a snapshot exported by a
  REPEATABLE READ transaction that also computes the table fingerprints, so dump and
  fingerprints describe the same state. The password goes through ``PGPASSWORD``, never argv.

Next to each backup, ``<file>.json`` records the per-table fingerprints (rows and an
order-independent SHA-256 of the rows) and the archive files the manifest names, which are
referenced, not copied. ``archive_manifest`` itself is a table and travels in the backup.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from marketdata_assets.errors import ConfigError, StorageError
from marketdata_assets.storage.warehouse import Warehouse, open_warehouse
from marketdata_assets.storage.warehouse.schema import TABLES

Fingerprints = dict[str, dict]   # table -> {"rows": n, "sha256": hex}


@dataclass(frozen=True)
class Backup:
    path: Path
    backend: str
    tables: Fingerprints
    archive_files: list[str]

    @property
    def rows(self) -> int:
        return sum(t["rows"] for t in self.tables.values())


def fingerprint(wh: Warehouse, names=tuple(TABLES)) -> Fingerprints:
    """Rows and an order-independent SHA-256 of each table's hot rows (the warehouse's own
    tables, cold files excluded: they are referenced by ``archive_manifest``)."""
    out = {}
    for name in names:
        frame = wh.read_hot(name)
        hashes = np.sort(pd.util.hash_pandas_object(frame, index=False).to_numpy()) if len(frame) else \
            np.empty(0, dtype=np.uint64)
        out[name] = {"rows": int(len(frame)), "sha256": hashlib.sha256(hashes.tobytes()).hexdigest()}
    return out


def _stamp(now: pd.Timestamp) -> str:
    return now.tz_convert("UTC").strftime("%Y%m%dT%H%M%S%fZ")


def take_backup(url: str, directory: str | Path, now: pd.Timestamp | None = None) -> Backup:
    """Back up the warehouse at ``url`` into ``directory`` (see the module docstring)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = _stamp(now or pd.Timestamp.now(tz="UTC"))
    with open_warehouse(url) as wh:
        if wh.dialect == "sqlite":
            path = directory / f"warehouse-{stamp}.sqlite"
            _sqlite_copy(wh.path, str(path))
            with open_warehouse(f"sqlite:///{path}", migrate=False) as copy:
                tables, files = fingerprint(copy), _archive_paths(copy)
        else:
            path = directory / f"warehouse-{stamp}.dump"
            tables, files = _pg_dump(wh, path)
    backup = Backup(path, wh.dialect, tables, files)
    Path(f"{path}.json").write_text(json.dumps({
        "backend": backup.backend, "file": path.name, "taken_at": stamp, "tables": tables, "archive_files": files,
    }, indent=1))
    return backup


def _archive_paths(wh: Warehouse) -> list[str]:
    return wh.read_hot("archive_manifest", columns=["path"])["path"].tolist()


def _sqlite_copy(source: str, target: str) -> None:
    src = sqlite3.connect(source, timeout=60)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)          # pages=-1: the whole database in one step, one consistent snapshot
    finally:
        dst.close()
        src.close()


def pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConfigError(f"{name} not found on PATH: PostgreSQL backups need the PostgreSQL client tools "
                          f"(e.g. `apt-get install postgresql-client-15`), the same major version as the server")
    return path


def _pg_env(url: str) -> tuple[dict, str]:
    """(environment with the password, if any, in PGPASSWORD; the URL without the password)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    env = {**os.environ, **({"PGPASSWORD": str(password)} if password else {})}
    return env, make_conninfo(**params)


def _pg_dump(wh: Warehouse, path: Path) -> tuple[Fingerprints, list[str]]:
    tool = pg_tool("pg_dump")
    env, conninfo = _pg_env(wh.url)
    with wh.conn.transaction():
        wh.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        snapshot = wh.conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        _run([tool, "-Fc", "--no-owner", f"--snapshot={snapshot}", "-f", str(path), "-d", conninfo], env, "pg_dump")
        return fingerprint(wh), _archive_paths(wh)


def _run(argv: list[str], env: dict, what: str) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StorageError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()[:500]}")


def is_empty(wh: Warehouse) -> bool:
    return all(wh.count(name) == 0 for name in TABLES)


def restore_backup(path: str | Path, url: str, force: bool = False) -> Fingerprints:
    """Restore the backup ``path`` into the warehouse at ``url``; refuses a warehouse that holds
    rows unless ``force`` (which replaces its contents). Returns the restored fingerprints."""
    path = Path(path)
    if not path.is_file():
        raise StorageError(f"{path}: no such backup file")
    with open_warehouse(url) as wh:
        if not force and not is_empty(wh):
            raise StorageError(f"refusing to restore {path.name}: the target warehouse is not empty "
                               "(pass --force to replace its contents)")
        if path.suffix == ".sqlite" and wh.dialect == "sqlite":
            wh.close()
            _sqlite_copy(str(path), wh.path)
        elif path.suffix == ".dump" and wh.dialect == "postgres":
            env, conninfo = _pg_env(wh.url)
            _run([pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
                  "-d", conninfo, str(path)], env, "pg_restore")
        else:
            raise StorageError(f"{path.name} is a {path.suffix.lstrip('.')} backup; it restores into "
                               f"{'SQLite' if path.suffix == '.sqlite' else 'PostgreSQL'}, not {wh.dialect}")
    with open_warehouse(url) as wh:
        return fingerprint(wh)


@contextmanager
def scratch_warehouse(like_url: str, directory: Path):
    """An empty, migrated warehouse of the same backend, removed afterwards (PostgreSQL: a
    scratch database on the same server, which needs the CREATEDB privilege)."""
    if like_url.startswith("sqlite"):
        path = directory / f".verify-{uuid.uuid4().hex[:8]}.sqlite"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    name = f"md_verify_{uuid.uuid4().hex[:10]}"
    base = like_url.rsplit("/", 1)[0]
    with psycopg.connect(like_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{base}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Verification:
    ok: bool
    mismatches: dict[str, dict]   # table -> {"backup": fp, "restored": fp}


def verify_backup(backup: Backup, like_url: str) -> Verification:
    """Restore ``backup`` into a scratch warehouse and compare every table's fingerprint."""
    with scratch_warehouse(like_url, backup.path.parent) as scratch:
        restored = restore_backup(backup.path, scratch, force=True)
    bad = {name: {"backup": fp, "restored": restored.get(name)} for name, fp in backup.tables.items()
           if restored.get(name) != fp}
    return Verification(not bad, bad)


def prune(directory: str | Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups (and their ``.json``) in ``directory``."""
    files = sorted(p for p in Path(directory).glob("warehouse-*") if p.suffix in (".sqlite", ".dump"))
    gone = files[:-keep] if keep > 0 else files
    for p in gone:
        p.unlink(missing_ok=True)
        Path(f"{p}.json").unlink(missing_ok=True)
    return gone
