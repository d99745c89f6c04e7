"""The docker-compose stack as a user runs it (no Docker engine here: the file is read as
YAML; `make lint` also runs `docker compose config` when a compose tool is installed)."""

from __future__ import annotations

import os
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


def test_the_app_services_pass_the_warehouse_connection_in_parts_for_the_entrypoint_to_encode():
    for name in ("dagster-webserver", "dagster-daemon", "sidecar"):
        assert "MARKETDATA_WAREHOUSE_URL" not in env(name) and "PGPASSWORD" not in env(name)
        assert env(name)["MARKETDATA_PG_PASSWORD"].startswith("${POSTGRES_PASSWORD")
        assert {env(name)[k] for k in ("MARKETDATA_PG_USER", "MARKETDATA_PG_DB")} == {"marketdata"}
        assert env(name)["MARKETDATA_PG_HOST"] == "timescaledb"
    assert 'ENTRYPOINT ["python", "-m", "marketdata_assets.entrypoint"]' in (ROOT / "Dockerfile").read_text()


PASSWORD = "p@ss:w/rd%2F#frag ?x=1&"   # every character that would break a URL left unencoded


def test_the_entrypoint_url_encodes_the_password_so_libpq_reads_it_back_unchanged():
    from psycopg.conninfo import conninfo_to_dict

    from marketdata_assets.entrypoint import with_warehouse_url

    env = with_warehouse_url({"MARKETDATA_PG_HOST": "timescaledb", "MARKETDATA_PG_PORT": "5432",
                              "MARKETDATA_PG_USER": "marketdata", "MARKETDATA_PG_PASSWORD": PASSWORD,
                              "MARKETDATA_PG_DB": "marketdata"})

    url = env["MARKETDATA_WAREHOUSE_URL"]
    assert PASSWORD not in url and url.startswith("postgresql://marketdata:p%40ss%3Aw%2Frd%252F%23frag")
    assert conninfo_to_dict(url) == {"host": "timescaledb", "port": "5432", "user": "marketdata",
                                     "password": PASSWORD, "dbname": "marketdata"}


def test_the_entrypoint_leaves_a_given_url_alone_and_builds_none_without_every_part():
    from marketdata_assets.entrypoint import with_warehouse_url

    given = {"MARKETDATA_WAREHOUSE_URL": "sqlite:///x.db", "MARKETDATA_PG_HOST": "h", "MARKETDATA_PG_USER": "u",
             "MARKETDATA_PG_PASSWORD": "p", "MARKETDATA_PG_DB": "d"}

    assert with_warehouse_url(dict(given))["MARKETDATA_WAREHOUSE_URL"] == "sqlite:///x.db"
    assert "MARKETDATA_WAREHOUSE_URL" not in with_warehouse_url({"MARKETDATA_PG_HOST": "h", "MARKETDATA_PG_USER": "u"})


def test_the_entrypoint_runs_the_command_with_a_url_that_opens_the_real_warehouse(pg_database):
    """Against the real PostgreSQL (trust auth here, so the password is carried but not checked):
    the command the entrypoint execs opens the warehouse through the encoded URL."""
    import subprocess
    import sys
    from urllib.parse import urlsplit

    parts = urlsplit(pg_database)
    env = {"PATH": os.environ["PATH"], "MARKETDATA_PG_HOST": parts.hostname, "MARKETDATA_PG_PORT": str(parts.port),
           "MARKETDATA_PG_USER": parts.username, "MARKETDATA_PG_PASSWORD": PASSWORD,
           "MARKETDATA_PG_DB": parts.path.lstrip("/")}
    probe = ("import os; from psycopg.conninfo import conninfo_to_dict; "
             "from marketdata_assets.settings import get_settings; "
             "from marketdata_assets.storage.warehouse import open_warehouse; "
             "url = get_settings().warehouse_url; wh = open_warehouse(url); "
             "print(wh.conn.execute('SELECT current_database()').fetchone()[0], wh.count('ticks')); "
             "print(conninfo_to_dict(url)['password'] == os.environ['MARKETDATA_PG_PASSWORD'])")

    done = subprocess.run([sys.executable, "-m", "marketdata_assets.entrypoint", sys.executable, "-c", probe],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)

    database, ticks, password_kept = done.stdout.split()
    # the scratch database is shared by this test process: other tests may have left ticks in it
    assert (database, password_kept) == (parts.path.lstrip("/"), "True") and ticks.isdigit()


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
