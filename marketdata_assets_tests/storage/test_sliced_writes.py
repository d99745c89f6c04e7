"""A partition write larger than one slice (COPY batch / executemany batch) is still one
write: every row lands once, in one transaction, and a rewrite replaces them all."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketdata_assets.storage.warehouse import open_warehouse, partition_scope, postgres, sqlite

SCOPE = partition_scope("ESH24", "2024-03-08")


def _ticks(n, price=5000.0):
    return pd.DataFrame({
        "instrument": "ESH24", "ts": pd.to_datetime(1_709_910_000_000_000 + np.arange(n) * 1000, unit="us", utc=True),
        "trading_date": "2024-03-08", "kind": "trade", "price": price + np.arange(n) % 7,
        "size": np.arange(n) % 5 + 1, "bid": np.nan, "ask": np.nan,
        "aggressor": np.where(np.arange(n) % 3 == 0, 0, 1), "num_trades": 1, "sub_trade": 0,
        "quality_score": 1.0, "source": "f.scid", "source_offset": 56 + np.arange(n) * 40, "run_id": "r",
    })


@pytest.fixture(autouse=True)
def small_slices(monkeypatch):
    monkeypatch.setattr(postgres, "COPY_SLICE", 7)
    monkeypatch.setattr(sqlite, "WRITE_SLICE", 7)


def test_a_write_of_many_slices_stores_every_row_once(warehouse_url):
    frame = _ticks(50)
    with open_warehouse(warehouse_url) as wh:
        wh.replace_partition("ticks", frame, SCOPE)
        wh.replace_partition("ticks", _ticks(23, price=6000.0), SCOPE)  # a rewrite replaces them all
        back = wh.read("ticks", SCOPE, order_by=("ts",))

    assert len(back) == 23
    assert back["price"].tolist() == (6000.0 + np.arange(23) % 7).tolist()
    assert (back["aggressor"] == 0).sum() == 8


def test_an_empty_write_empties_the_partition(warehouse_url):
    with open_warehouse(warehouse_url) as wh:
        wh.replace_partition("ticks", _ticks(10), SCOPE)
        wh.replace_partition("ticks", _ticks(0), SCOPE)
        assert wh.count("ticks", SCOPE) == 0
