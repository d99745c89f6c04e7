"""replace_partitions: several partition writes in one transaction, on both backends."""

from __future__ import annotations

import pandas as pd
import pytest

from marketdata_assets.errors import StorageError
from marketdata_assets.storage.warehouse import PartitionWrite, partition_scope

SCOPE = partition_scope("ESZ5", "2025-09-23")


def state_rows(prices, point="checkpoint"):
    return pd.DataFrame({"instrument": "ESZ5", "trading_date": "2025-09-23", "source": "/f", "point": point,
                         "side": "bid", "price": prices, "quantity": 1, "num_orders": 1, "run_id": "r"})


def test_failed_part_rolls_back_every_part_of_the_write(warehouse):
    warehouse.replace_partitions([PartitionWrite("depth_book_state", state_rows([1.0]), SCOPE)])
    bad = state_rows([2.0]).assign(side="middle")   # violates the side CHECK constraint

    with pytest.raises(StorageError):
        warehouse.replace_partitions([PartitionWrite("depth_book_state", state_rows([3.0, 4.0]), SCOPE),
                                PartitionWrite("depth_book_state", bad, {**SCOPE, "point": "start"})])

    assert warehouse.read("depth_book_state", SCOPE)["price"].tolist() == [1.0]


def test_rewrite_with_the_same_writes_leaves_identical_rows(warehouse):
    writes = [PartitionWrite("depth_book_state", state_rows([1.0, 2.0]), {**SCOPE, "point": "checkpoint"}),
              PartitionWrite("depth_book_state", state_rows([5.0], "start"), {**SCOPE, "point": "start"})]

    for _ in range(3):
        warehouse.replace_partitions(writes)

    assert sorted(warehouse.read("depth_book_state", SCOPE)["price"].tolist()) == [1.0, 2.0, 5.0]
