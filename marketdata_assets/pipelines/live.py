"""Partition-level step of the live path: the sidecar's journal of ProjectX hub ticks →
``raw_ticks`` (asset ``live_ticks``).

The journal is written in the ``.scid`` layout, so it is replayed by the Sierra loader and
its checkpoint (:func:`pipelines.sierra.ticks.load_raw`), with source ``projectx:<instrument>``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from marketdata_assets.model.sessions import Market
from marketdata_assets.sources.projectx.rest import PROVIDER
from marketdata_assets.storage.warehouse import Warehouse


def journal_source(instrument: str) -> str:
    """``raw_ticks.source`` (and checkpoint key) of replayed hub ticks: ``projectx:ESZ24``."""
    return f"{PROVIDER}:{instrument}"


def load_journal(wh: Warehouse, journal_dir: Path, instrument: str, market: Market, trading_date: date,
                 run_id: str, full_refresh: bool = False):
    """The sidecar's hub journal of ``instrument`` → ``raw_ticks`` of the trading date, by the
    ``.scid`` reader and its checkpoint: records appended since the last replay are added in
    one transaction with the checkpoint, so replaying again (after sidecar restarts, a kill -9
    and its torn last record, or a re-run) never adds a record twice."""
    from marketdata_assets.pipelines.sierra.ticks import load_raw
    from marketdata_assets.sidecar.journal import journal_path

    path = journal_path(journal_dir, instrument)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no ProjectX journal for {instrument} (is the sidecar running with "
                                f"--projectx {instrument}?)")
    return load_raw(wh, path, instrument, market, trading_date, run_id, full_refresh=full_refresh,
                    source=journal_source(instrument))
