"""Order-book reconstruction from depth events: pure arrays in, arrays and frames out.

Events are Sierra Chart's depth commands (see ``sources/sierra/depth.py``); any source whose
events map onto clear / add / modify / delete per side works the same. The rules:

* **Screening** (:func:`screen_events`), before the replay: an unknown command, a
  non-finite or negative price on an add/modify/delete, a time outside the file's UTC day
  and a time earlier than the latest valid time before it are quarantined with a rule
  each. Equal timestamps are normal (several batches share a millisecond).
* **Replay** (:func:`replay_book`): clear empties both sides, add sets a level (replacing
  it), modify changes an existing level, delete removes one; a modify or delete of a level
  that does not exist is quarantined (``missing_level``) and changes nothing. The book is
  observed only at end-of-batch records. The replay starts from a given book (the state at
  a checkpoint, or at the start of the trading date), never from an assumed empty one.
* **Snapshots**: for every ``snapshot_us`` interval ``(E − I, E]`` that saw events, the top
  ``levels`` per side as of the last end-of-batch at or before ``E`` (row ``ts`` = ``E``).
* **Books per batch** (``books=True``): the top ``levels`` per side at every end-of-batch, in
  order (:class:`BatchBooks`); what the live feed publishes, one book per batch end.
* A crossed (bid > ask) or locked (bid = ask) book at a batch end is flagged, not fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ORIGIN = "sierra"         # origin of the depth-derived rows (depth_events, book_snapshots, book_bars)
STAGE = "sierra_depth"    # quarantine stage of the depth records screened out (asset sierra_depth)
REASONS = ("", "unknown_command", "bad_price", "time_backwards", "time_outside_file_day", "missing_level")
OK, UNKNOWN_COMMAND, BAD_PRICE, TIME_BACKWARDS, TIME_OUTSIDE_DAY, MISSING_LEVEL = range(6)
SIDES = np.array(["bid", "ask"])
MINUTE_US = 60_000_000


@dataclass(frozen=True)
class BookState:
    """The levels of a book: ``side`` (0 bid, 1 ask), ``price``, ``quantity``, ``num_orders``."""

    side: np.ndarray
    price: np.ndarray
    quantity: np.ndarray
    num_orders: np.ndarray

    @classmethod
    def empty(cls) -> BookState:
        return cls(np.empty(0, np.int8), np.empty(0, np.float64), np.empty(0, np.int64), np.empty(0, np.int64))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> BookState:
        if frame is None or not len(frame):
            return cls.empty()
        side = np.where(frame["side"].to_numpy() == "ask", 1, 0).astype(np.int8)
        return cls(side, frame["price"].to_numpy(np.float64), frame["quantity"].to_numpy(np.int64),
                   frame["num_orders"].to_numpy(np.int64))

    def as_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"side": SIDES[self.side.astype(np.int64)], "price": self.price,
                             "quantity": self.quantity, "num_orders": self.num_orders})

    def __len__(self) -> int:
        return len(self.price)

    def top(self, levels: int) -> tuple[list[list], list[list]]:
        """The best ``levels`` per side as ``[price, quantity, num_orders]`` lists, best first."""
        out = []
        for side, descending in ((0, True), (1, False)):
            idx = np.flatnonzero(self.side == side)
            idx = idx[np.argsort(-self.price[idx] if descending else self.price[idx], kind="stable")][:levels]
            out.append([[float(self.price[k]), int(self.quantity[k]), int(self.num_orders[k])] for k in idx])
        return out[0], out[1]


@dataclass(frozen=True)
class BatchBooks:
    """The top levels per side at each end-of-batch, straight from the kernel: ``ids`` is
    (side 0 bid / 1 ask, batch end, level) into ``prices``, best first, −1 past the book's
    depth; ``quantity`` and ``num_orders`` have the same shape; ``ts`` is per batch end."""

    ts: np.ndarray
    ids: np.ndarray
    quantity: np.ndarray
    num_orders: np.ndarray
    prices: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    def top(self, j: int) -> tuple[list[list], list[list]]:
        """Batch end ``j`` as ``[price, quantity, num_orders]`` lists per side, like :meth:`BookState.top`."""
        return tuple([[float(self.prices[k]), int(q), int(o)]
                      for k, q, o in zip(self.ids[s, j], self.quantity[s, j], self.num_orders[s, j], strict=True)
                      if k >= 0] for s in (0, 1))


@dataclass(frozen=True)
class BookReplay:
    missing: np.ndarray          # per event: a modify/delete of a level that did not exist
    batches: pd.DataFrame        # per end-of-batch: ts, bid, bid_size, ask, ask_size, crossed, locked
    snapshots: pd.DataFrame      # ts, side, level, price, quantity, num_orders, as_of
    final: BookState
    books: BatchBooks | None = None   # with ``books=True``: the top levels at every end-of-batch


def clean_prices(price32: np.ndarray) -> np.ndarray:
    """Sorted distinct float32 prices as the shortest decimal of each (1.09005f becomes
    1.09005, not 1.0900499820709229). NaN sorts last."""
    return np.asarray(price32, dtype=np.float32).astype(str).astype(np.float64)


def screen_events(ts: np.ndarray, command: np.ndarray, price: np.ndarray, day_lo: int, day_hi: int,
                  prev_ts: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(reason code per event, effective time per event) for the screening rules above.

    The effective time of a record with a bad time is the latest valid time before it (or
    ``prev_ts`` / ``day_lo``), so it stays in the trading date its neighbours belong to."""
    n = len(ts)
    reason = np.zeros(n, np.int8)
    if n == 0:
        return reason, ts.astype(np.int64)
    valid_time = (ts >= day_lo) & (ts < day_hi)
    floor = day_lo if prev_ts is None else max(int(prev_ts), day_lo)
    running = np.maximum.accumulate(np.where(valid_time, ts, floor))
    running = np.maximum(running, floor)
    before = np.r_[floor, running[:-1]]
    backwards = valid_time & (ts < before)
    effective = np.where(valid_time & ~backwards, ts, before).astype(np.int64)
    priced = (command >= 2) & (command <= 7)
    p = np.asarray(price, dtype=np.float64)
    reason[~valid_time] = TIME_OUTSIDE_DAY
    reason[backwards] = TIME_BACKWARDS
    reason[priced & ~(np.isfinite(p) & (p >= 0))] = BAD_PRICE
    reason[command > 7] = UNKNOWN_COMMAND
    return reason, effective


def snapshot_points(event_ts: np.ndarray, batch_ts: np.ndarray, snapshot_us: int) -> tuple[np.ndarray, np.ndarray]:
    """(interval ends E of the intervals that saw events and have a batch end at or before
    them, the index of that batch end)."""
    if not len(event_ts) or not len(batch_ts):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    ends = -(-event_ts // snapshot_us) * snapshot_us
    if len(ends) > 1 and bool(np.all(ends[1:] >= ends[:-1])):   # effective times never go back
        ends = ends[np.r_[True, ends[1:] != ends[:-1]]]
    else:
        ends = np.unique(ends)
    idx = np.searchsorted(batch_ts, ends, side="right") - 1
    keep = idx >= 0
    return ends[keep], idx[keep]


def replay_book(ts: np.ndarray, command: np.ndarray, flags: np.ndarray, num_orders: np.ndarray,
                price: np.ndarray, quantity: np.ndarray, skip: np.ndarray, initial: BookState,
                levels: int = 10, snapshot_us: int = 1_000_000, snapshots: bool = True,
                books: bool = False) -> BookReplay:
    """Replay events (``ts`` already effective, see :func:`screen_events`) from ``initial``;
    ``snapshots=False`` skips the snapshot rows (a load that needs only the flags and state);
    ``books=True`` also keeps the top ``levels`` per side at every end-of-batch."""
    from marketdata_assets.transforms.book_kernel import replay  # numba: imported when first used

    command = np.asarray(command, np.uint8)
    flags = np.asarray(flags, np.uint8)
    from marketdata_assets.transforms.book_kernel import price_ids

    skip = np.asarray(skip, np.bool_)
    price32 = np.asarray(price, np.float32)
    init32 = initial.price.astype(np.float32)
    prices32 = np.unique(np.r_[price32[~skip], init32])   # a hash-based unique: no sort of the events
    prices32 = prices32[~np.isnan(prices32)]
    uniq = clean_prices(prices32)
    pid = np.empty(len(price32), np.int32)
    price_ids(price32.view(np.uint32), skip, prices32.view(np.uint32), pid)
    init_pid = np.empty(len(init32), np.int32)
    price_ids(init32.view(np.uint32), np.zeros(len(init32), np.bool_), prices32.view(np.uint32), init_pid)
    batch_pos = np.flatnonzero(flags & 1)
    batch_ts = ts[batch_pos]
    ends, snap_batch = snapshot_points(ts if snapshots else ts[:0], batch_ts, snapshot_us)
    snap_at = np.full(len(batch_pos), books, np.bool_)   # books: every batch end is captured
    snap_at[snap_batch] = True
    n_snaps = int(snap_at.sum())
    missing, top = np.zeros(len(ts), np.bool_), np.empty((len(batch_pos), 4), np.int64)
    ids = np.full((2, n_snaps, levels), -1, np.int64)
    qty, orders = np.zeros((2, n_snaps, levels), np.int64), np.zeros((2, n_snaps, levels), np.int64)
    alive, fqty, forders = replay(
        command, flags, pid, np.asarray(quantity), np.asarray(num_orders), skip, len(uniq), snap_at, int(levels),
        initial.side.astype(np.int64), init_pid, initial.quantity.astype(np.int64),
        initial.num_orders.astype(np.int64), missing, top, ids, qty, orders)
    batches = _batch_frame(batch_ts, top, uniq)
    snapshots = _snapshot_frame(ends, batch_ts[snap_batch], np.cumsum(snap_at)[snap_batch] - 1,
                                ids, qty, orders, uniq)
    side, p = np.nonzero(alive)
    final = BookState(side.astype(np.int8), uniq[p], fqty[side, p], forders[side, p])
    per_batch = BatchBooks(batch_ts.astype(np.int64), ids, qty, orders, uniq) if books else None
    return BookReplay(missing, batches, snapshots, final, per_batch)


def _batch_frame(batch_ts: np.ndarray, top: np.ndarray, uniq: np.ndarray) -> pd.DataFrame:
    has_bid, has_ask = top[:, 0] >= 0, top[:, 2] >= 0
    bid = np.where(has_bid, uniq[np.maximum(top[:, 0], 0)] if len(uniq) else np.nan, np.nan)
    ask = np.where(has_ask, uniq[np.maximum(top[:, 2], 0)] if len(uniq) else np.nan, np.nan)
    both = has_bid & has_ask
    return pd.DataFrame({
        "ts": batch_ts.astype(np.int64), "bid": bid, "bid_size": np.where(has_bid, top[:, 1], 0),
        "ask": ask, "ask_size": np.where(has_ask, top[:, 3], 0),
        "crossed": both & (bid > ask), "locked": both & (bid == ask),
    })


def _snapshot_frame(ends, as_of, snap_index, ids, qty, orders, uniq) -> pd.DataFrame:
    """Rows ordered by (ts, side bid first, level); gathered straight from the kernel's arrays."""
    sel_ids = ids[:, snap_index, :].transpose(1, 0, 2)      # (snapshot, side, level)
    k, side, lvl = np.nonzero(sel_ids >= 0)
    return pd.DataFrame({
        "ts": ends[k], "side": SIDES[side], "level": (lvl + 1).astype(np.int64),
        "price": uniq[sel_ids[k, side, lvl]], "quantity": qty[side, snap_index[k], lvl],
        "num_orders": orders[side, snap_index[k], lvl], "as_of": as_of[k],
    }, copy=False)


def book_bars(batches: pd.DataFrame, end_us: int | None = None) -> pd.DataFrame:
    """Per 1m bar (``ts`` = minute start, UTC): the spread weighted by how long each batch-end
    state lasted within the minute, the time-weighted mean best bid and ask sizes (over the
    time each side had a level), their imbalance ``(bid − ask) / (bid + ask)``, the number of
    batch ends and of crossed or locked ones. A state lasts until the next batch end; the
    last one until the end of its minute (or ``end_us`` if earlier)."""
    cols = ["ts", "spread", "bid_size", "ask_size", "imbalance", "two_sided_seconds", "batches", "crossed_batches"]
    if not len(batches):
        return pd.DataFrame(columns=cols)
    t = batches["ts"].to_numpy(np.int64)
    last_end = (t[-1] // MINUTE_US + 1) * MINUTE_US
    if end_us is not None:
        last_end = max(t[-1], min(last_end, int(end_us)))
    b = np.r_[t[1:], last_end]
    m0 = t // MINUTE_US
    m1 = np.maximum(m0, (b - 1) // MINUTE_US)
    count = m1 - m0 + 1
    state = np.repeat(np.arange(len(t)), count)
    minute = np.repeat(m0, count) + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    dur = (np.minimum(b[state], (minute + 1) * MINUTE_US) - np.maximum(t[state], minute * MINUTE_US)).astype(np.float64)
    dur = np.maximum(dur, 0.0)
    bid, ask = batches["bid"].to_numpy()[state], batches["ask"].to_numpy()[state]
    has_bid, has_ask = np.isfinite(bid), np.isfinite(ask)
    first = m0[0]
    slot, n = minute - first, int(minute[-1] - first + 1)
    w2 = dur * (has_bid & has_ask)
    wb, wa = dur * has_bid, dur * has_ask

    def total(weights, values=None):
        return np.bincount(slot, weights if values is None else weights * values, minlength=n)

    with np.errstate(invalid="ignore", divide="ignore"):
        spread = total(w2, np.where(has_bid & has_ask, ask - bid, 0.0)) / total(w2)
        bid_size = total(wb, batches["bid_size"].to_numpy(np.float64)[state]) / total(wb)
        ask_size = total(wa, batches["ask_size"].to_numpy(np.float64)[state]) / total(wa)
        imbalance = (bid_size - ask_size) / (bid_size + ask_size)
    bslot = m0 - first
    flagged = (batches["crossed"] | batches["locked"]).to_numpy()
    n_batches = np.bincount(bslot, minlength=n)
    out = pd.DataFrame({
        "ts": (np.arange(n) + first) * MINUTE_US, "spread": spread, "bid_size": bid_size, "ask_size": ask_size,
        "imbalance": imbalance, "two_sided_seconds": total(w2) / 1e6, "batches": n_batches,
        "crossed_batches": np.bincount(bslot, flagged.astype(np.float64), minlength=n).astype(np.int64),
    })
    return out[(total(dur) > 0) | (n_batches > 0)].reset_index(drop=True)
