"""The live-loop part of ``make demo``: skipped clearly without Redis, judged on its result."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from marketdata_assets.demo_live import INSTRUMENTS, LiveDemo


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_live_loop_is_skipped_and_says_so_when_redis_is_unreachable(tmp_path, capsys):
    out = tmp_path / "result.json"
    env = {**os.environ, "MARKETDATA_REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0",
           "MARKETDATA_VAR_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "marketdata_assets.demo_live", str(out)], env=env)

    ok = LiveDemo(proc, out, tmp_path / "log").finish(timeout_s=60)

    assert ok is True and proc.returncode == 0
    printed = capsys.readouterr().out
    assert "SKIPPED: Redis is not reachable (ConnectionError)" in printed
    assert "live loop needs Redis" in printed


def test_a_duplicate_or_a_stale_sample_fails_the_live_demo(tmp_path, capsys):
    bars = {"closed_bars": 5, "duplicates": 0, "gaps": 0, "steps": 0, "first": "15:29", "last": "15:33", "by": ""}
    result = {"prefix": "p", "stale_samples": 0, "cycles": 58, "breakers": {}, "cycle_ms": {"p50": 1.0},
              "served": {i: [[0.3, "yahoo"]] for i in INSTRUMENTS}, "max_freshness_s": dict.fromkeys(INSTRUMENTS, 1.0),
              "bars": {i: dict(bars) for i in INSTRUMENTS}}

    class Done:
        def wait(self, timeout):
            return 0

    out = tmp_path / "result.json"
    out.write_text(json.dumps(result))
    assert LiveDemo(Done(), out, tmp_path / "log").finish() is True
    result["bars"]["AAPL"]["duplicates"] = 1
    out.write_text(json.dumps(result))
    assert LiveDemo(Done(), out, tmp_path / "log").finish() is False
    result["bars"]["AAPL"]["duplicates"], result["stale_samples"] = 0, 2
    out.write_text(json.dumps(result))
    assert LiveDemo(Done(), out, tmp_path / "log").finish() is False
    assert "FAILED" in capsys.readouterr().out
