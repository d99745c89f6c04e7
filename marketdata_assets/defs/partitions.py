"""Partitions: trading date × instrument.

``date`` is the trading date of the instrument's market (see ``model/sessions.py``), not a
UTC calendar day; ``end_offset=1`` makes today's UTC date the last partition. CME's trading
date rolls at 17:00 Chicago time, before UTC midnight: records of tomorrow's trading date
are *pending* until their partition exists (the sensor retries the file; see
``transforms/partition_dates.py``), neither requested nor quarantined. Dimension names sort as ``date|instrument``, so the CLI
key is ``2024-01-02|ESZ24``.

The first date is ``MARKETDATA_PARTITIONS_START`` (default :data:`DATE_START`), the last one
``MARKETDATA_PARTITIONS_END`` when set (``make dev`` sets both to the sample data's dates, so
its space is the sample's and mostly filled; unset: today, with tomorrow pending). They are
read when the Definitions are built, never at import: the assets are declared with
:data:`market_partitions` (default start) and :func:`with_partitions_start` gives the
built Definitions' assets the configured ones. Records dated outside the partition set
are quarantined (``timestamp_out_of_range``), never silently dropped.

Keys of the dynamic ``instrument`` dimension can be added from the UI; an invalid one
(``../x``) affects only itself: :func:`valid_instruments` leaves it out of every
instrument loop, and its own runs fail in :func:`partition_of`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import dagster as dg

from marketdata_assets.errors import InvalidInstrument
from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.transforms.partition_dates import DateRange

DATE_START = "2020-01-01"
DATE_DESCRIPTION = ("date is the instrument's trading date (its market's session calendar, e.g. CME Globex "
                    "from 17:00 Chicago the evening before), not a UTC calendar day")
instrument_partitions = dg.DynamicPartitionsDefinition(name="instrument")


def date_partitions(start: str = DATE_START, end: str | None = None) -> dg.DailyPartitionsDefinition:
    """Daily dates from ``start`` to ``end`` (both included), or to today's UTC date."""
    if end is None:
        return dg.DailyPartitionsDefinition(start_date=start, end_offset=1)
    return dg.DailyPartitionsDefinition(start_date=start,
                                        end_date=(date.fromisoformat(end) + timedelta(days=1)).isoformat())


def build_market_partitions(start: str = DATE_START, end: str | None = None) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition({"date": date_partitions(start, end), "instrument": instrument_partitions})


market_partitions = build_market_partitions()


def with_partitions_start(assets: Iterable, start: str, end: str | None = None) -> list:
    """``assets`` with :data:`market_partitions` replaced, on each asset and on its checks,
    by the same partitions from ``start`` to ``end`` (ISO dates; no end: today), and with definition metadata
    ``partition_date`` saying what the ``date`` dimension means (the UI shows it). Called
    when the Definitions are built; anything else passes through unchanged."""
    new = build_market_partitions(start, end)
    out = []
    for a in assets:
        if isinstance(a, dg.AssetsDefinition) and a.partitions_def == market_partitions:
            attrs = a.get_attributes_dict()
            attrs["specs"] = [spec.replace_attributes(partitions_def=new, metadata={
                **spec.metadata, "partition_date": DATE_DESCRIPTION}) for spec in a.specs]
            attrs["check_specs_by_output_name"] = {
                name: spec._replace(partitions_def=new) if spec.partitions_def == market_partitions else spec
                for name, spec in a.check_specs_by_output_name.items()}
            a = dg.AssetsDefinition.dagster_internal_init(**attrs)
        out.append(a)
    return out


def date_range(partitions_def: dg.PartitionsDefinition | None = None) -> DateRange:
    """The dates of the partition set now (first and last included), with tomorrow pending
    when the set grows with the calendar (no fixed end: after a fixed end nothing is pending,
    later records are out of range)."""
    multi = partitions_def if isinstance(partitions_def, dg.MultiPartitionsDefinition) else market_partitions
    daily = multi.get_partitions_def_for_dimension("date")
    last = date.fromisoformat(daily.get_last_partition_key())
    growing = getattr(daily, "end", None) is None
    return DateRange(date.fromisoformat(daily.get_first_partition_key()), last,
                     last + timedelta(days=1) if growing else None)


def valid_instruments(keys: Iterable[str], log=None) -> list[str]:
    """The valid instrument keys, sorted; each invalid one is logged and left out."""
    out = []
    for key in keys:
        try:
            out.append(validate_instrument(key))
        except InvalidInstrument as exc:
            if log is not None:
                log.warning("ignoring instrument partition key %r: %s", key, exc)
    return sorted(out)


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
