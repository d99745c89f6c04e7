"""The docker-compose stack as a user runs it (no Docker engine here: the file is read as
YAML; `make lint` also runs `docker compose config` when a compose tool is installed)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def env(service: str) -> dict:
    return SERVICES[service].get("environment", {})


def test_every_service_restarts_and_has_a_healthcheck():
    assert set(SERVICES) == {"timescaledb", "redis", "dagster-webserver", "dagster-daemon", "sidecar"}
    for name, svc in SERVICES.items():
        assert svc.get("restart") == "unless-stopped", name
        assert svc.get("healthcheck", {}).get("test"), name


def test_host_ports_bind_localhost_and_can_be_moved():
    for name, svc in SERVICES.items():
        for port in svc.get("ports", []):
            assert re.fullmatch(r"127\.0\.0\.1:\$\{[A-Z_]+:-\d+\}:\d+", port), (name, port)


def test_the_database_password_never_sits_inside_a_url():
    for name in ("dagster-webserver", "dagster-daemon", "sidecar"):
        url = env(name)["MARKETDATA_WAREHOUSE_URL"]
        assert "POSTGRES_PASSWORD" not in url and ":" not in url.split("@")[0].removeprefix("postgresql://"), url
        assert env(name)["PGPASSWORD"].startswith("${POSTGRES_PASSWORD")


def test_dagster_and_the_sidecar_share_the_data_folder_and_the_compute_logs():
    mounts = {name: set(SERVICES[name]["volumes"]) for name in ("dagster-webserver", "dagster-daemon", "sidecar")}
    assert all("mddata:/data" in m for m in mounts.values())
    logs = {m for m in mounts["dagster-webserver"] if m.startswith("compute_logs:")}
    assert logs and logs <= mounts["dagster-daemon"]
    assert env("dagster-daemon")["DAGSTER_COMPUTE_LOG_DIR"] == logs.pop().split(":")[1]
    dagster_yaml = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    assert dagster_yaml["compute_logs"]["config"]["base_dir"] == {"env": "DAGSTER_COMPUTE_LOG_DIR"}


def test_the_build_context_leaves_out_the_venv_and_var():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "var", ".git"} <= set(ignored)
    assert "setup.py" in (ROOT / "Dockerfile").read_text()          # the migrations mapping is built in
