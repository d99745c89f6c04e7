"""Append-only journal of the provider bars the live loop served.

``{MARKETDATA_VAR_DIR}/live/providers/{instrument}/{trading date}.jsonl``: one JSON line per
closed 1m bar the loop keeps and serves from Redis (``kind`` ``bar``; ``backfill`` for the
history loaded at start; written when the bar joins the kept bars, so one whose commit waits
for Redis to come back is not lost) and per late correction applied (``kind`` ``correction``): ``ts`` (ISO UTC bar
start), ``ts_us``, ``open high low close``, ``volume`` (null: the provider has none),
``provider``, ``request`` (provenance, never a key), ``written_us``. Lines are only ever
appended; :func:`read_journal` gives the last version of each minute.

The warehouse does not read it: ``provider_bars`` (Dagster) stays the one writer of provider
data and re-fetches a finished day through the same clients and priority. The journal is the
audit record of what readers saw live; :func:`read_journal` lets a check compare the two.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.model.sessions import Market
from marketdata_assets.sidecar.provider_state import Minute


def journal_dir(var_dir: Path) -> Path:
    return Path(var_dir) / "live" / "providers"


class Journal:
    def __init__(self, root: Path):
        self.root = Path(root)

    def append(self, instrument: str, market: Market, minutes: list[Minute], kind: str) -> int:
        if not minutes:
            return 0
        folder = self.root / validate_instrument(instrument)
        folder.mkdir(parents=True, exist_ok=True)
        days = market.trading_dates(np.array([m.ts for m in minutes], np.int64)).astype(str)
        now_us = int(time.time() * 1e6)
        by_day: dict[str, list[str]] = {}
        for m, day in zip(minutes, days.tolist(), strict=True):
            o, h, low, c, v = m.values
            by_day.setdefault(day, []).append(json.dumps({
                "ts": pd.Timestamp(m.ts, unit="us", tz="UTC").isoformat(), "ts_us": m.ts, "open": o, "high": h,
                "low": low, "close": c, "volume": None if math.isnan(v) else v, "provider": m.provider,
                "request": m.request, "kind": kind, "written_us": now_us}))
        for day, lines in by_day.items():
            with open(folder / f"{day}.jsonl", "a", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
        return len(minutes)


def read_journal(root: Path, instrument: str, trading_date: str) -> pd.DataFrame:
    """The day's bars as served, last version of each minute, sorted by ``ts``."""
    path = Path(root) / validate_instrument(instrument) / f"{trading_date}.jsonl"
    if not path.exists():
        return pd.DataFrame(columns=["ts", "open", "high", "low", "close", "volume", "provider", "kind"])
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    frame = pd.DataFrame(rows)
    frame["ts"] = pd.to_datetime(frame["ts_us"], unit="us", utc=True)
    return frame.drop_duplicates("ts_us", keep="last").sort_values("ts").reset_index(drop=True)
