"""Symbol sync against the warehouse (SQLite and PostgreSQL): batches under a time budget,
deactivation that keeps the rows, filters that leave orphans on purpose."""

from __future__ import annotations

import pandas as pd

from marketdata_assets.defs.catalog.steps import symbol_reference
from marketdata_assets.pipelines.catalog.symbols import sync_symbols
from marketdata_assets.storage.warehouse import open_warehouse
from marketdata_assets_tests.catalog.helpers import add_daily_bars, snapshot

NOW = pd.Timestamp("2024-04-01", tz="UTC")


class TickingClock:
    """Each reading is ``step`` seconds after the previous one."""

    def __init__(self, step: float):
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def test_a_spent_time_budget_leaves_the_remaining_batches_for_the_next_run(warehouse_url):
    add_daily_bars(warehouse_url, ["AAPL", "IBM", "MSFT", "esh24", "ESH24-CME"])
    ref = symbol_reference()

    with open_warehouse(warehouse_url) as wh:
        first = sync_symbols(wh, ref, "r1", NOW, batch_size=2, time_budget_s=5, clock=TickingClock(6.0))
        second = sync_symbols(wh, ref, "r2", NOW, batch_size=2, time_budget_s=60, clock=TickingClock(4.0))

    assert (first.added, first.pending, first.batches) == (["AAPL", "ESH24"], ["IBM", "MSFT"], 1)
    assert first.aliases_added == {"ESH24-CME": "ESH24", "esh24": "ESH24"}
    assert first.orphan_records == 4 and first.orphan_instruments == ["IBM", "MSFT"]
    assert (second.added, second.pending, second.orphan_records) == (["IBM", "MSFT"], [], 0)
    runs = snapshot(warehouse_url, ("symbols",))["symbols"].set_index("symbol")["run_id"].to_dict()
    assert runs == {"AAPL": "r1", "ESH24": "r1", "IBM": "r2", "MSFT": "r2"}


def test_symbols_without_recent_data_are_deactivated_not_deleted(warehouse_url):
    add_daily_bars(warehouse_url, ["CLJ24"], day="2024-01-02")
    add_daily_bars(warehouse_url, ["ESH24"], day="2024-03-11")
    ref = symbol_reference()

    with open_warehouse(warehouse_url) as wh:
        res = sync_symbols(wh, ref, "r1", NOW, inactive_after_days=30)
        again = sync_symbols(wh, ref, "r2", NOW + pd.Timedelta(days=1), inactive_after_days=30)

    symbols = snapshot(warehouse_url, ("symbols",))["symbols"].set_index("symbol")
    assert res.deactivated == ["CLJ24"] and again.deactivated == [] and again.spans_updated == 0
    assert symbols.loc["CLJ24", "active"] == 0 and symbols.loc["CLJ24", "deactivated_at"] == NOW
    assert symbols.loc["ESH24", "active"] == 1 and pd.isna(symbols.loc["ESH24", "deactivated_at"])
    assert symbols.loc["CLJ24", "last_ts"] == pd.Timestamp("2024-01-02 15:30", tz="UTC")
    assert res.orphan_records == 0


def test_filters_add_only_matching_symbols_and_the_rest_stay_orphans(warehouse_url):
    add_daily_bars(warehouse_url, ["ESH24", "EURUSD", "AAPL"])

    with open_warehouse(warehouse_url) as wh:
        res = sync_symbols(wh, symbol_reference(), "r1", NOW, asset_classes=["FUTURE", "FOREX"], venues=["CME"])

    assert res.added == ["ESH24"]
    assert set(res.filtered) == {"EURUSD", "AAPL"}
    assert res.orphan_instruments == ["AAPL", "EURUSD"]
