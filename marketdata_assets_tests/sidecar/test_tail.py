"""Tailing: whole records only, replaced files noticed, inotify wake-ups."""

from __future__ import annotations

import asyncio
import threading
from datetime import date

import pytest

from marketdata_assets.sidecar.tail import FileReplaced, ScidTail, Watcher, discover
from marketdata_assets.sources.sierra.scid import HEADER_SIZE, RECORD_SIZE
from marketdata_assets.testkit.sierra_sample import write_scid

from .writer import records


def test_partial_trailing_record_is_left_for_the_next_read(tmp_path):
    rec = records("ESH24", 10, seed=1, first_day=date(2024, 3, 7), days=1)
    path = write_scid(tmp_path / "ESH24.scid", rec[:3])
    raw = rec[3:].tobytes()
    with open(path, "ab") as fh:
        fh.write(raw[:17])
    tail = ScidTail(path)
    tail.open()
    got, start = tail.read(100)
    assert (len(got), start) == (3, HEADER_SIZE)
    tail.advance(len(got))
    assert tail.read(100)[0].size == 0
    with open(path, "ab") as fh:
        fh.write(raw[17:])
    got, start = tail.read(100)
    assert start == HEADER_SIZE + 3 * RECORD_SIZE and got.tobytes() == raw
    tail.close()


def test_shrunk_or_replaced_file_raises_file_replaced(tmp_path):
    rec = records("ESH24", 10, seed=2, first_day=date(2024, 3, 7), days=1)
    path = write_scid(tmp_path / "ESH24.scid", rec)
    tail = ScidTail(path)
    tail.open()
    fp = tail.fingerprint()
    tail.seek(HEADER_SIZE + 10 * RECORD_SIZE)
    tail.check_identity(fp)
    write_scid(tmp_path / "x.tmp", rec[:5]).replace(path)
    with pytest.raises(FileReplaced, match="new inode"):
        tail.check_identity(fp)
    with open(path, "r+b") as fh:  # same inode, truncated below the offset
        tail.open()
        tail.seek(HEADER_SIZE + 5 * RECORD_SIZE)
        fh.truncate(HEADER_SIZE + 2 * RECORD_SIZE)
    with pytest.raises(FileReplaced, match="shrank"):
        tail.available()
    tail.close()


def test_discover_skips_invalid_names(tmp_path):
    for name in ("ESH24.scid", "NQH24-CME.scid", "bad name.scid", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert sorted(discover(tmp_path, ())) == ["ESH24", "NQH24-CME"]
    assert discover(tmp_path, ("CLJ24",)) == {"CLJ24": tmp_path / "CLJ24.scid"}


def test_inotify_wakes_the_watcher_on_append(tmp_path):
    path = write_scid(tmp_path / "ESH24.scid", records("ESH24", 5, seed=3, first_day=date(2024, 3, 7), days=1))

    async def scenario() -> float:
        watcher = Watcher(tmp_path, poll_ms=600_000)
        watcher.start()
        assert watcher.mode == "inotify"
        timer = threading.Timer(0.2, lambda: open(path, "ab").write(b"x" * 7))
        timer.start()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await watcher.wait()
        watcher.close()
        return loop.time() - t0

    assert asyncio.run(scenario()) < 300  # woken by the append, not by the 600 s poll


def test_a_kick_before_wait_is_remembered_and_the_poll_bounds_the_wait(tmp_path):
    async def scenario() -> tuple[float, float, float]:
        watcher = Watcher(tmp_path, poll_ms=150, use_inotify=False)
        watcher.start()
        loop = asyncio.get_running_loop()
        watcher.kick()  # nobody waiting yet
        t0 = loop.time()
        await watcher.wait()
        remembered = loop.time() - t0
        t0 = loop.time()
        await watcher.wait()  # the kick was consumed: this one waits for the poll period
        polled = loop.time() - t0
        loop.call_later(0.02, watcher.kick)
        t0 = loop.time()
        await watcher.wait(timeout=30)
        kicked = loop.time() - t0
        watcher.close()
        return remembered, polled, kicked

    remembered, polled, kicked = asyncio.run(scenario())
    assert remembered < 0.1
    assert polled >= 0.14
    assert kicked < 20  # woken by the kick, not by the 30 s timeout
