"""Shared fixtures. Storage tests run against every backend: SQLite and the real PostgreSQL
(127.0.0.1:5432, user postgres). A missing service fails the run with a clear message;
nothing is skipped and nothing is faked (`make test` starts the services first)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
import pytest

PG_ADMIN_URL = os.environ.get("MARKETDATA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("MARKETDATA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _pg_url(dbname: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname


@pytest.fixture(scope="session")
def pg_database():
    """A scratch PostgreSQL database for this test process, migrated, dropped at the end."""
    name = f"md_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}). Run `make services` "
                    "(or `make test`, which starts it).", pytrace=False)
    admin.execute(f'CREATE DATABASE "{name}"')
    from marketdata_assets.storage.warehouse import open_warehouse

    url = _pg_url(name)
    open_warehouse(url).close()
    yield url
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def truncate_all(url: str) -> None:
    from marketdata_assets.storage.warehouse.schema import TABLES

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE " + ", ".join(TABLES))


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse_url(request, tmp_path) -> str:
    """The URL of an empty, migrated warehouse on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/warehouse.db"
    url = request.getfixturevalue("pg_database")
    truncate_all(url)
    return url


@pytest.fixture
def warehouse(warehouse_url):
    from marketdata_assets.storage.warehouse import open_warehouse

    wh = open_warehouse(warehouse_url)
    yield wh
    wh.close()


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    """The standard sample .scid files (read-only: copy before modifying)."""
    from marketdata_assets.testkit.sierra_sample import write_sample_data

    out = tmp_path_factory.mktemp("sample")
    write_sample_data(out)
    return out


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({exc}). Run `make services`.", pytrace=False)
    return REDIS_URL
