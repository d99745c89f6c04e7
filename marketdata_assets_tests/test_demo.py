"""`marketdata demo` (what `make demo` runs) on a fresh var directory."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_materializes_every_sample_partition_and_reconciles(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MARKETDATA_", "DAGSTER_"))}
    env["MARKETDATA_VAR_DIR"] = str(tmp_path / "var")

    proc = subprocess.run([sys.executable, "-m", "marketdata_assets.cli", "demo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)

    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "partitions materialized: 20 of 20" in proc.stdout
    assert "date partitions: 2024-03-07 to" in proc.stdout
    assert "False" not in proc.stdout.split("reconciliation")[1]
    assert (tmp_path / "var" / "warehouse.db").exists()
    assert (tmp_path / "var" / "dagster" / "dagster.yaml").exists()
