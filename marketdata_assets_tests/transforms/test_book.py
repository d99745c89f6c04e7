"""Book reconstruction: commands, batch boundaries, snapshots, screening, carried state, bars."""

from __future__ import annotations

import numpy as np

from marketdata_assets.transforms.book import (
    BAD_PRICE,
    TIME_BACKWARDS,
    TIME_OUTSIDE_DAY,
    UNKNOWN_COMMAND,
    BookState,
    book_bars,
    replay_book,
    screen_events,
)

S = 1_000_000


def events(rows):
    """rows of (ts, command, flags, price, quantity) → column arrays."""
    ts, cmd, fl, px, qty = (np.array(c) for c in zip(*rows, strict=True))
    return dict(ts=ts.astype(np.int64), command=cmd.astype(np.uint8), flags=fl.astype(np.uint8),
                num_orders=np.ones(len(ts), np.int64), price=px.astype(np.float32), quantity=qty.astype(np.int64))


def run(ev, initial=None, levels=10, snapshot_us=S):
    return replay_book(skip=np.zeros(len(ev["ts"]), bool), initial=initial or BookState.empty(),
                       levels=levels, snapshot_us=snapshot_us, **ev)


def test_book_is_observed_only_at_end_of_batch():
    ev = events([(S // 2, 1, 0, 0, 0), (S // 2, 2, 0, 100.0, 5), (S // 2, 3, 1, 100.5, 4),
                 (S, 6, 0, 100.0, 0), (S, 2, 1, 99.75, 8)])  # delete best bid + add lower one, one batch

    r = run(ev)

    assert r.batches[["bid", "bid_size", "ask", "ask_size"]].values.tolist() == [[100.0, 5, 100.5, 4],
                                                                                [99.75, 8, 100.5, 4]]
    assert r.snapshots[["ts", "side", "level", "price", "quantity"]].values.tolist() == [
        [S, "bid", 1, 99.75, 8], [S, "ask", 1, 100.5, 4]]  # one interval (0, 1 s]: its last batch end


def test_modify_and_delete_of_missing_level_are_flagged_and_change_nothing():
    ev = events([(S, 2, 0, 100.0, 5), (S, 4, 0, 99.0, 9), (S, 7, 0, 101.0, 0), (S, 5, 1, 100.0, 1)])

    r = run(ev)

    assert r.missing.tolist() == [False, True, True, True]
    assert r.final.as_frame().values.tolist() == [["bid", 100.0, 5, 1]]


def test_snapshot_uses_last_batch_end_at_or_before_interval_end():
    ev = events([(S, 2, 1, 100.0, 5),            # closes at exactly 1 s: belongs to (0, 1]
                 (S + 1, 2, 0, 101.0, 1),         # open batch in (1, 2] ...
                 (3 * S - 5, 0, 1, 0, 0)])        # ... closed in (2, 3]
    r = run(ev)

    snap = r.snapshots[["ts", "price", "as_of"]].values.tolist()
    assert snap == [[S, 100.0, S],
                    [2 * S, 100.0, S],            # (1, 2] saw events but no batch end: state as of 1 s
                    [3 * S, 101.0, 3 * S - 5], [3 * S, 100.0, 3 * S - 5]]


def test_crossed_and_locked_books_are_flagged_not_fixed():
    ev = events([(S, 2, 0, 100.0, 1), (S, 3, 1, 100.0, 1), (S, 2, 1, 100.25, 1)])

    r = run(ev)

    assert r.batches[["locked", "crossed"]].values.tolist() == [[True, False], [False, True]]
    assert r.batches["bid"].tolist() == [100.0, 100.25]


def test_levels_limit_and_order_of_snapshot_rows():
    ev = events([(S, 2, 0, p, 1) for p in (99.0, 100.0, 98.0)] + [(S, 3, 1, 101.0, 2)])
    ev["flags"][-1] = 1

    r = run(ev, levels=2)

    assert r.snapshots[["side", "level", "price"]].values.tolist() == [["bid", 1, 100.0], ["bid", 2, 99.0],
                                                                      ["ask", 1, 101.0]]


def test_replay_from_carried_state_equals_one_full_replay():
    rng = np.random.default_rng(3)
    n = 4000
    rows = [(int(t), int(c), int(f), 100 + int(k) * 0.25, int(q)) for t, c, f, k, q in zip(
        np.sort(rng.integers(0, 60 * S, n)), rng.choice([1, 2, 3, 4, 5, 6, 7], n, p=[.01, .25, .25, .15, .15, .095, .095]),
        rng.random(n) < 0.3, rng.integers(-20, 20, n), rng.integers(1, 50, n), strict=True)]
    full = run(events(rows))
    cut = max(i for i, r in enumerate(rows[:2000]) if r[2]) + 1  # after an end-of-batch
    head = run(events(rows[:cut]))
    tail = run(events(rows[cut:]), initial=head.final)

    assert np.array_equal(np.r_[head.missing, tail.missing], full.missing)
    assert full.final.as_frame().equals(tail.final.as_frame())
    both = np.r_[head.batches["bid"].to_numpy(), tail.batches["bid"].to_numpy()]
    assert np.array_equal(both, full.batches["bid"].to_numpy(), equal_nan=True)


def test_screening_rules_and_effective_time():
    ts = np.array([10, 12, 11, 12, 99, 13, 14, 15])
    cmd = np.array([2, 3, 2, 2, 2, 9, 2, 6], np.uint8)
    price = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, np.nan, -2.0], np.float32)

    reason, effective = screen_events(ts, cmd, price, day_lo=0, day_hi=50, prev_ts=None)

    assert reason.tolist() == [0, 0, TIME_BACKWARDS, 0, TIME_OUTSIDE_DAY, UNKNOWN_COMMAND, BAD_PRICE, BAD_PRICE]
    assert effective.tolist() == [10, 12, 12, 12, 12, 13, 14, 15]  # equal timestamps are fine


def test_book_bars_weight_spread_by_time_each_state_lasted():
    m = 60 * S
    ev = events([(0, 2, 0, 100.0, 10), (0, 3, 1, 100.25, 30),   # spread 0.25, sizes 10/30 for 15 s
                 (15 * S, 3, 1, 100.75, 10)])                    # ask 100.25 stays best: add a worse level
    ev["flags"][[1, 2]] = 1
    ev2 = events([(15 * S, 7, 1, 100.25, 0)])
    ev2["flags"][0] = 1
    r = run({k: np.r_[ev[k], ev2[k]] for k in ev})

    bars = book_bars(r.batches)

    assert len(bars) == 1 and bars["ts"].iloc[0] == 0
    assert np.isclose(bars["spread"].iloc[0], (0.25 * 15 + 0.75 * 45) / 60)
    assert np.isclose(bars["ask_size"].iloc[0], (30 * 15 + 10 * 45) / 60)
    assert np.isclose(bars["imbalance"].iloc[0], (10 - 15) / (10 + 15))
    assert bars["batches"].iloc[0] == 3 and bars["two_sided_seconds"].iloc[0] == 60.0
    assert book_bars(r.batches, end_us=m // 2)["two_sided_seconds"].iloc[0] == 30.0


def test_negative_zero_price_is_the_same_level_as_zero():
    ev = events([(S, 2, 0, -0.0, 5), (S, 2, 0, 1.0, 1), (S, 4, 1, 0.0, 7)])

    r = run(ev)

    assert not r.missing.any()
    assert r.final.as_frame().values.tolist() == [["bid", 0.0, 7, 1], ["bid", 1.0, 1, 1]]


def test_books_per_batch_end_equal_the_replay_stopped_at_each_batch_end_and_leave_snapshots_alone():
    from marketdata_assets.bench.depth import synthetic_events

    rec = synthetic_events(3_000, seed=7)
    ev = dict(ts=rec["dt"].astype(np.int64), command=rec["command"], flags=rec["flags"],
              num_orders=rec["num_orders"].astype(np.int64), price=rec["price"], quantity=rec["quantity"].astype(np.int64))
    start = run(events([(0, 2, 0, 5000.0, 3), (0, 3, 1, 5000.25, 2)])).final   # a carried book, not an empty one

    with_books = replay_book(skip=np.zeros(len(rec), bool), initial=start, levels=3, books=True, **ev)

    plain = replay_book(skip=np.zeros(len(rec), bool), initial=start, levels=3, **ev)
    ends = np.flatnonzero(rec["flags"] & 1)
    assert len(with_books.books) == len(ends) > 500
    assert with_books.books.ts.tolist() == ev["ts"][ends].tolist()
    for j in (0, 1, len(ends) // 2, len(ends) - 1):
        upto = {k: v[:ends[j] + 1] for k, v in ev.items()}
        stopped = replay_book(skip=np.zeros(ends[j] + 1, bool), initial=start, levels=3, snapshots=False, **upto)
        assert with_books.books.top(j) == stopped.final.top(3)
    assert with_books.snapshots.equals(plain.snapshots) and plain.books is None
