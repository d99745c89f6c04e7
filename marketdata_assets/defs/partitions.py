"""Partitions: trading date × instrument.

``date`` is the trading date of the instrument's market (see ``model/sessions.py``), not a
UTC calendar day; ``end_offset=1`` keeps tomorrow's date available because CME's trading
date rolls at 17:00 Chicago time. Dimension names sort as ``date|instrument``, so the CLI
key is ``2024-01-02|ESZ24``.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from marketdata_assets.model.instruments import validate_instrument

DATE_START = "2020-01-01"
date_partitions = dg.DailyPartitionsDefinition(start_date=DATE_START, end_offset=1)
instrument_partitions = dg.DynamicPartitionsDefinition(name="instrument")
market_partitions = dg.MultiPartitionsDefinition({"date": date_partitions, "instrument": instrument_partitions})


def partition_of(context) -> tuple[str, date]:
    """(instrument, trading date) of the run's partition, the instrument validated."""
    key = context.partition_key
    keys = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else \
        dg.MultiPartitionKey(dict(zip(("date", "instrument"), key.split("|"), strict=True))).keys_by_dimension
    return validate_instrument(keys["instrument"]), date.fromisoformat(keys["date"])


def key_for(trading_date: str | date, instrument: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": str(trading_date), "instrument": validate_instrument(instrument)})


def partitions_of_run(context) -> list[tuple[str, date]]:
    """(instrument, trading date) of every partition of the run: one, or the whole range of
    a single-run backfill (``BackfillPolicy.single_run()``), instruments validated."""
    keys = context.partition_keys if context.has_partition_key_range else [context.partition_key]
    out = []
    for key in keys:
        dims = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else \
            dict(zip(("date", "instrument"), str(key).split("|"), strict=True))
        out.append((validate_instrument(dims["instrument"]), date.fromisoformat(dims["date"])))
    return out
