"""The live tick journal: what the market hub delivered, appended before anything else
touches it, as a ``.scid`` tick file per instrument (``<journal dir>/projectx/ESZ24.scid``).

Written in Sierra Chart's own tick format so that everything downstream is the ``.scid``
path that already exists: the sidecar tails it into Redis (same keys, live bars and
indicators, exactly-once resume by byte offset across restarts and kill -9), and the
``live_ticks`` asset replays it into ``raw_ticks`` with the Sierra reader and checkpoints.

Records: a trade is ``Open = 0.0`` (single trade), ``Close`` = price, ``High``/``Low`` = the
last best ask/bid (the price itself before the first quote), ``NumTrades = 1``,
``TotalVolume`` = size, ``AskVolume`` = size for a buy aggressor, ``BidVolume`` for a sell; a
quote is a bid/ask update (``TotalVolume = 0``, ``High`` = ask, ``Low`` = bid); what a gap backfill
recovers from ``retrieveBars`` is written as bar records (OHLC, ``TotalVolume``). Timestamps
are made strictly increasing the way Sierra Chart does: a record not after the previous
one gets the previous timestamp + 1 µs. A record torn by a crash at the end of the file is
cut off when the journal is opened again, so appends stay aligned. Prices are float32 as
in every ``.scid`` file (exact for prices on a 1/4, 1/8 … grid; ``f32_decimal`` recovers
decimals elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from marketdata_assets.model.instruments import validate_instrument
from marketdata_assets.sources.projectx.hub import BUY, Quote, Trade
from marketdata_assets.sources.sierra.scid import HEADER_SIZE, RECORD_DTYPE, RECORD_SIZE, SC_EPOCH_US
from marketdata_assets.sources.sierra.scid_writer import header_bytes


def journal_path(journal_dir: Path, instrument: str) -> Path:
    return Path(journal_dir) / f"{validate_instrument(instrument)}.scid"


class TickJournal:
    """Append-only ``.scid`` journal of one instrument (one writer per file)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.last_us = 0
        self.bid = self.ask = float("nan")
        self.records = 0
        self.second = (0, 0)  # (unix second, traded volume journaled in it) of the latest trade
        self._fh = open(self.path, "ab")  # noqa: SIM115 - held open for the process' life
        self._repair()

    def _repair(self) -> None:
        size = self._fh.seek(0, os.SEEK_END)
        if size < HEADER_SIZE:
            self._fh.truncate(0)
            self._fh.write(header_bytes())
            self._fh.flush()
            return
        whole = HEADER_SIZE + (size - HEADER_SIZE) // RECORD_SIZE * RECORD_SIZE
        if whole != size:  # a record torn by a crash: drop it, it was never readable
            self._fh.truncate(whole)
        if whole > HEADER_SIZE:
            with open(self.path, "rb") as fh:
                fh.seek(whole - RECORD_SIZE)
                last = np.frombuffer(fh.read(RECORD_SIZE), dtype=RECORD_DTYPE)[0]
            self.last_us = int(last["dt"]) - SC_EPOCH_US
            self.records = (whole - HEADER_SIZE) // RECORD_SIZE

    def _stamp(self, ts_us: int) -> int:
        ts = max(int(ts_us), self.last_us + 1)
        self.last_us = ts
        return ts + SC_EPOCH_US

    def append(self, trades: list[Trade] = (), quote: Quote | None = None) -> int:
        """Append trades (in order) and then the quote; returns records written."""
        rec = np.zeros(len(trades) + (quote is not None), dtype=RECORD_DTYPE)
        for i, t in enumerate(trades):
            sec = t.ts_us // 1_000_000
            self.second = (sec, (self.second[1] if self.second[0] == sec else 0) + t.size)
            have_quote = self.bid == self.bid
            rec[i] = (self._stamp(t.ts_us), 0.0, self.ask if have_quote else t.price,
                      self.bid if have_quote else t.price, t.price, 1, t.size,
                      0 if t.side == BUY else t.size, t.size if t.side == BUY else 0)
        if quote is not None:
            self.bid, self.ask = quote.bid, quote.ask
            rec[-1] = (self._stamp(quote.ts_us), 0.0, quote.ask, quote.bid, 0.0, 0, 0, 0, 0)
        return self._write(rec)

    def append_bars(self, bars: list[tuple[int, float, float, float, float, int]]) -> int:
        """Append bar records (start µs, open, high, low, close, volume): gap backfill."""
        rec = np.zeros(len(bars), dtype=RECORD_DTYPE)
        for i, (ts, o, h, low, c, v) in enumerate(bars):
            rec[i] = (self._stamp(ts), o, h, low, c, 0, v, 0, 0)
        return self._write(rec)

    def _write(self, rec: np.ndarray) -> int:
        if len(rec):
            self._fh.write(rec.tobytes())
            self._fh.flush()  # in the OS before the tail reads it; survives kill -9 of this process
            self.records += len(rec)
        return len(rec)

    def close(self) -> None:
        self._fh.close()
