"""The read API across hot and cold, and its Redis cache (real Redis, real warehouses)."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest
import redis

from marketdata_assets.storage.archive import archive_partition, restore_partitions
from marketdata_assets.storage.query import BadQuery, Query, read_bars, read_ticks, run, to_arrow
from marketdata_assets.storage.query_cache import QueryCache
from marketdata_assets.storage.warehouse import partition_scope
from marketdata_assets_tests.storage.archive_frames import DAY, NEXT, write_partitions
from marketdata_assets_tests.storage.killed_writer import frame

START, END = "2024-03-07T00:00:00Z", "2024-03-12T00:00:00Z"


@pytest.fixture
def filled(warehouse):
    write_partitions(warehouse, DAY)
    write_partitions(warehouse, NEXT, shift_days=3)
    return warehouse


@pytest.fixture
def cache(redis_url):
    client = redis.Redis.from_url(redis_url)
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    yield QueryCache(client, prefix, ttl_s=60)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def test_bars_span_hot_and_cold_with_the_dtypes_of_a_hot_read(filled, tmp_path):
    hot = read_bars(filled, "ESH24", START, END, timeframe="5m")

    archive_partition(filled, str(tmp_path), "ESH24", DAY)
    both = read_bars(filled, "ESH24", START, END, timeframe="5m")

    assert len(hot) == 20 and hot["timeframe"].unique().tolist() == ["5m"]
    pd.testing.assert_frame_equal(hot, both)
    assert to_arrow(both).schema.field("ts").type.unit == "us"


def test_range_is_start_inclusive_end_exclusive_and_sorted(filled):
    ticks = read_ticks(filled, ["ESH24"], START, END)
    first, last = ticks["ts"].iloc[0], ticks["ts"].iloc[-1]

    inner = read_ticks(filled, "ESH24", first, last)

    assert len(ticks) == 100 and ticks["ts"].is_monotonic_increasing
    assert len(inner) == 99 and inner["ts"].iloc[0] == first


@pytest.mark.parametrize(("args", "message"), [
    (("candles", "ESH24", START, END), "kind"),
    (("bars", "../etc", START, END), "instrument"),
    (("bars", "ESH24", END, START), "end: must be after start"),
    (("bars", "ESH24", "yesterday", END), "start"),
    (("bars", "ESH24", START, END, "7x"), "timeframe"),
    (("indicators", "ESH24", START, END, "7m"), "timeframe"),
])
def test_bad_parameters_are_refused_naming_the_parameter(args, message):
    with pytest.raises(BadQuery, match=message):
        Query.make(*args)


def test_normalized_query_ignores_instrument_order_and_time_spelling():
    a = Query.make("bars", ["NQH24", "ESH24"], "2024-03-07", "2024-03-08T00:00:00+00:00")
    b = Query.make("bars", ["ESH24", "NQH24", "ESH24"], pd.Timestamp("2024-03-06T19:00:00-05:00"), "2024-03-08")

    assert a.digest() == b.digest()


def test_second_read_is_a_hit_with_an_identical_frame(filled, cache):
    q = Query.make("bars", "ESH24", START, END, "1m")

    first, second = cache.read(filled, q), cache.read(filled, q)

    pd.testing.assert_frame_equal(first, second)
    assert cache.stats() == {"hits": 1, "misses": 1, "evictions": 0}


@pytest.mark.parametrize("change", ["rewrite", "archive", "restore", "new partition"])
def test_a_change_to_a_covered_partition_is_never_served_stale(filled, cache, tmp_path, change):
    q = Query.make("ticks", "ESH24", START, END)
    if change == "restore":
        archive_partition(filled, str(tmp_path), "ESH24", DAY)
    cache.read(filled, q)

    if change == "rewrite":
        filled.replace_partition("ticks", frame(3, "again"), partition_scope("ESH24", DAY))
    elif change == "archive":
        archive_partition(filled, str(tmp_path), "ESH24", DAY)
    elif change == "restore":
        restore_partitions(filled, "ESH24", DAY, DAY)
    else:
        filled.replace_partition("ticks", frame(2, "new").assign(trading_date="2024-03-10",
                                 ts=lambda f: f["ts"] + pd.Timedelta(days=2)), partition_scope("ESH24", "2024-03-10"))
    after = cache.read(filled, q)

    pd.testing.assert_frame_equal(after, run(filled, q))
    assert cache.stats() == {"hits": 0, "misses": 2, "evictions": 1}


def test_bars_of_a_non_stored_timeframe_come_from_the_1m_bars(filled, tmp_path):
    archive_partition(filled, str(tmp_path), "ESH24", DAY)

    bars = read_bars(filled, "ESH24", START, END, timeframe="10m")

    assert bars["timeframe"].unique().tolist() == ["10m"]
    assert set(bars["trading_date"]) == {DAY, NEXT}            # the cold day too
    assert bars["volume"].sum() == 2 * 10 * 10.0              # every 1m bar counted once
