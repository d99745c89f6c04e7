"""One tailed ``.scid`` file's state in the sidecar loop (:mod:`.runner`), and what
``/health`` says of it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from marketdata_assets.sidecar.pipeline import InstrumentPipeline
from marketdata_assets.sidecar.tail import ScidTail
from marketdata_assets.sources.sierra.scid import RECORD_SIZE


@dataclass
class Feed:
    instrument: str
    path: Path
    tail: ScidTail
    pipeline: InstrumentPipeline | None = None
    committed: int | None = None      # offset Redis holds for this instrument (None: none)
    ready: bool = False               # restored and positioned
    error: str | None = None
    rebuild: bool = False             # next restore starts from the beginning of the file
    last_tick_us: int | None = None
    next_check: float = 0.0
    meters: dict = field(default_factory=dict)
    late_seen: int = -1               # late records last exported (-1: none yet, so 0 is exported once)
    invalid_logged: bool = False      # records with an invalid time were logged for this file

    def health(self, now_us: float) -> dict:
        """The feed's entry under ``instruments`` in ``/health``."""
        last = self.last_tick_us
        return {
            "file": self.path.name,
            "source": "ok" if self.ready else ("error" if self.error else "starting"),
            "error": self.error,
            "last_tick_ts": None if last is None else
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(last / 1e6)) + f".{last % 1_000_000:06d}Z",
            "lag_s": None if last is None else round((now_us - last) / 1e6, 3),
            "offset": self.committed,
            "backlog_records": max(0, (self.tail.size - (self.committed or self.tail.header_size)) // RECORD_SIZE)
            if self.ready else None,
        }
