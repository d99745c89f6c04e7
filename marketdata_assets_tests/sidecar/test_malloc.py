"""glibc heap tuning belongs to the sidecar process: its entry point applies it, nothing else does."""

from __future__ import annotations

import subprocess
import sys

from marketdata_assets.sidecar import __main__ as sidecar_main

from .conftest import REPO, SHARED_REDIS

# Records every mallopt looked up through ctypes, whoever asks for it (``lib.mallopt`` goes
# through ``__getitem__`` too).
_RECORD_MALLOPT = """
import ctypes
MALLOPT = []
class _Recording(ctypes.CDLL):
    def __getitem__(self, name):
        if name == "mallopt":
            MALLOPT.append(self._name)
        return super().__getitem__(name)
ctypes.CDLL = _Recording
"""


def test_the_dagster_code_location_never_tunes_malloc(prefix):
    """Import and build the definitions and read the sidecar's keys the way its sensor and check
    do, in a fresh process: no mallopt. Then the sidecar's own call is seen (the probe works)."""
    code = _RECORD_MALLOPT + f"""
import marketdata_assets.definitions as d
defs = d.build_defs()
defs.resolve_all_job_defs()
from marketdata_assets.defs.live.resources import LiveStreamResource
from marketdata_assets.storage.live_reader import LiveCache
beat, error = LiveStreamResource(redis_url={SHARED_REDIS!r}, prefix={prefix!r}).read_heartbeat()
assert (beat, error) == (None, None), (beat, error)
with LiveCache({SHARED_REDIS!r}, {prefix!r}) as cache:
    assert len(cache.bars("ESH24", "1m", 5000)) == 0
assert MALLOPT == [], MALLOPT
from marketdata_assets.sidecar.malloc import tune_malloc
assert tune_malloc() is True and tune_malloc() is True
assert len(MALLOPT) == 1, MALLOPT
"""
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


def test_the_sidecar_entry_point_tunes_malloc_once_before_serving(tmp_path, monkeypatch):
    calls = []

    async def serve(cfg):
        calls.append(("serve", cfg.data_dir))
        return 0

    monkeypatch.setattr(sidecar_main, "tune_malloc", lambda: calls.append(("tune_malloc",)))
    monkeypatch.setattr(sidecar_main, "serve", serve)

    code = sidecar_main.main(["--data-dir", str(tmp_path), "--port", "0"])

    assert code == 0
    assert calls == [("tune_malloc",), ("serve", tmp_path)]
