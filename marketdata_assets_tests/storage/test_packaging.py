"""The migrations ship with the package: a built wheel creates a complete warehouse, and a
package without them fails at once, naming what is missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from marketdata_assets.errors import StorageError
from marketdata_assets.storage.warehouse import base, open_warehouse
from marketdata_assets.storage.warehouse.schema import TABLES

ROOT = Path(__file__).resolve().parents[2]

OPEN_FROM_WHEEL = """
import json, sqlite3, sys
import marketdata_assets
from marketdata_assets.storage.warehouse import open_warehouse
open_warehouse("sqlite:///" + sys.argv[1]).close()
tables = [r[0] for r in sqlite3.connect(sys.argv[1]).execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
print(json.dumps({"package": marketdata_assets.__file__, "tables": tables}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # a copy: the build leaves build/ behind, which must neither litter nor feed the checkout
    src = out / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "var", "build", "dist", "*.egg-info",
                                                             "__pycache__", ".*_cache"))
    # no build isolation: the dev install holds setuptools, so the test needs no index
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(src)], check=True, capture_output=True, timeout=240)
    (path,) = out.glob("marketdata_assets-*.whl")
    return path


def test_wheel_holds_every_migration_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())

    for dialect in ("sqlite", "postgres"):
        shipped = sorted(p.name for p in (ROOT / "sql" / dialect).glob("[0-9][0-9][0-9]_*.sql"))
        assert shipped, dialect
        assert {f"marketdata_assets/migrations/{dialect}/{n}" for n in shipped} <= names
        # the later branches' migrations too (market depth, ProjectX contracts)
        assert {f"marketdata_assets/migrations/{dialect}/{n}" for n in ("008_depth.sql",
                                                                         "011_projectx_contracts.sql")} <= names


def test_warehouse_opened_from_the_wheel_has_every_table(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}  # the wheel's package before the editable checkout

    done = subprocess.run([sys.executable, "-c", OPEN_FROM_WHEEL, str(tmp_path / "wh.db")], cwd=tmp_path,
                          env=env, check=True, capture_output=True, text=True, timeout=120)

    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(out["package"]).is_relative_to(site)
    assert set(TABLES) <= set(out["tables"])


def test_missing_migrations_fail_loudly_naming_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(base, "MIGRATIONS_PACKAGE", "marketdata_assets.reference")  # a package without sql/

    with pytest.raises(StorageError, match="no sqlite migrations in package marketdata_assets.reference"):
        open_warehouse(f"sqlite:///{tmp_path}/wh.db")


def test_editable_install_reads_the_checkout_sql_directory():
    files = base.migration_files("sqlite")

    assert [f.name for f in files] == sorted(p.name for p in (ROOT / "sql" / "sqlite").glob("[0-9]*.sql"))
    assert all(f.name[:3] < "100" for f in files)
