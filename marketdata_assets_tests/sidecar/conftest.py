"""Fixtures for the sidecar tests: the real Redis, private Redis servers, processes.

Every test uses its own key prefix on the shared Redis (127.0.0.1:6379) and deletes its
keys afterwards. Tests that restart Redis start their own ``redis-server`` on a free port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

SHARED_REDIS = "redis://127.0.0.1:6379/0"
HERE = Path(__file__).parent
REPO = HERE.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value (returned) or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def prefix():
    name = f"test-sidecar-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(SHARED_REDIS)
    keys = list(client.scan_iter(f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def shared_redis():
    client = redis.Redis.from_url(SHARED_REDIS)
    client.ping()
    yield client
    client.close()


class PrivateRedis:
    """A throw-away ``redis-server`` that tests may kill and restart.

    Without persistence by default (a restart comes back empty); ``persistent=True`` keeps
    an fsync-always AOF in the test's temporary directory (a restart keeps the data).
    """

    def __init__(self, workdir: Path, persistent: bool = False):
        self.port = free_port()
        self.workdir = workdir
        self.persistent = persistent
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.persistent else "no", "--appendfsync", "always",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)

        def up():
            try:
                return client.ping()
            except redis.ConnectionError:
                return False

        wait_for(up, 10, what="private redis-server")
        client.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)


@pytest.fixture
def private_redis(tmp_path):
    servers: list[PrivateRedis] = []

    def make(persistent: bool = False) -> PrivateRedis:
        servers.append(PrivateRedis(tmp_path, persistent))
        return servers[-1]

    yield make
    for server in servers:
        if server.proc is not None:
            server.resume()
            server.kill()


class Sidecar:
    """The sidecar as a subprocess (``python -m marketdata_assets.sidecar``)."""

    def __init__(self, data_dir: Path, redis_url: str, prefix: str, log_path: Path, token: str | None = "s3cret",
                 port: int | None = None, extra_env: dict | None = None):
        self.port = port or free_port()
        self.log_path = log_path
        self.env = {**os.environ, "MARKETDATA_SIERRA_DATA_DIR": str(data_dir), "MARKETDATA_REDIS_URL": redis_url,
                    "MARKETDATA_REDIS_PREFIX": prefix, "MARKETDATA_SIDECAR_PORT": str(self.port),
                    "MARKETDATA_SIDECAR_STREAM_MAXLEN": "10000000", "MARKETDATA_SIDECAR_POLL_MS": "10",
                    "MARKETDATA_SIDECAR_TOKEN": token or "", **(extra_env or {})}
        self.proc: subprocess.Popen | None = None

    def start(self) -> Sidecar:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "marketdata_assets.sidecar"], cwd=REPO, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def sidecars(tmp_path):
    started: list[Sidecar] = []

    def make(data_dir: Path, redis_url: str, prefix: str, **kw) -> Sidecar:
        car = Sidecar(data_dir, redis_url, prefix, tmp_path / f"sidecar-{len(started)}.log", **kw)
        started.append(car)
        return car

    yield make
    for car in started:
        car.stop()


@pytest.fixture
def writers():
    started: list[subprocess.Popen] = []

    def start(out_dir: Path, **kw) -> subprocess.Popen:
        args = [sys.executable, str(HERE / "writer.py"), str(out_dir)]
        for key, value in kw.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        proc = subprocess.Popen(args, cwd=REPO)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
