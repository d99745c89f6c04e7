"""The migrations ship with the package: a built wheel creates a complete warehouse, and a
package without them fails at once, naming what is missing. The test kit's recorded provider
responses ship too (package data, not packages: the build warns about nothing), so the
fake providers of an installed wheel serve them like the checkout."""

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
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v",
                           "-w", str(out), str(src)], check=True, capture_output=True, text=True, timeout=240)
    (path,) = out.glob("marketdata_assets-*.whl")
    BUILD_LOG[path] = done.stdout + done.stderr
    return path


BUILD_LOG: dict[Path, str] = {}

SERVE_FROM_WHEEL = """
import json, sys
import marketdata_assets
from marketdata_assets.testkit.fakeproviders.common import Recorded
from marketdata_assets.testkit.recorded import recorded_root
recorded = Recorded()
print(json.dumps({"package": marketdata_assets.__file__, "root": str(recorded_root()),
                  "yahoo": recorded.files("yahoo"),
                  "symbols": recorded.load("polygon/v3_reference_tickers_page1.json")["results"][0]["ticker"]}))
"""


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


def test_wheel_holds_each_recorded_response_once_as_package_data_without_build_warnings(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    recorded = ROOT / "marketdata_assets" / "testkit" / "fakeproviders" / "recorded"
    shipped = sorted(p.relative_to(recorded).as_posix() for p in recorded.rglob("*.json"))

    in_wheel = sorted(n.split("/recorded/", 1)[1] for n in names if "/recorded/" in n and n.endswith(".json"))
    assert len(shipped) == 17 and in_wheel == shipped              # every file, each exactly once
    assert not list((ROOT / "marketdata_assets_tests").rglob("*.json"))  # no second copy in the tests
    assert "marketdata_assets/testkit/fakeproviders/recorded/README.md" in names
    assert "absent from the `packages` configuration" not in BUILD_LOG[wheel]


def test_fake_providers_from_the_wheel_serve_its_recorded_responses(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}

    done = subprocess.run([sys.executable, "-c", SERVE_FROM_WHEEL], cwd=tmp_path, env=env, check=True,
                          capture_output=True, text=True, timeout=120)

    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(out["package"]).is_relative_to(site) and Path(out["root"]).is_relative_to(site)
    assert "yahoo/chart-AAPL-2020-01-01-to-2020-01-03.json" in out["yahoo"] and len(out["yahoo"]) == 6
    assert out["symbols"]
