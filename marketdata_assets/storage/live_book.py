"""Redis layout of the live order book (written by the sidecar's depth feed) and its reader.

Keys (``{p}`` the prefix, ``{i}`` a validated instrument):

- ``{p}:book:{i}`` - string, JSON ``{"type": "book", "instrument", "ts_us", "bids": [[price,
  quantity, num_orders], ...], "asks": [...]}``: the top N levels per side (best first) as of
  the last end-of-batch read (encoded by :mod:`marketdata_assets.storage.live_book_codec`).
- ``{p}:tob:{i}`` - hash: ``ts_us, bid, bid_size, ask, ask_size, crossed, locked`` (top of
  book; empty strings for an empty side).
- ``{p}:depthstate:{i}`` - hash, internal resume state: ``file, fingerprint, offset, last_ts,
  book_ts, levels`` (the whole book as JSON ``[[side, price, quantity, num_orders], ...]``),
  committed in the same ``MULTI`` as the two keys above.
- ``{p}:events:book:{i}`` - pub/sub channel, the book JSON at every end-of-batch, in order
  (published in the same ``MULTI`` that moves the keys above past those batches).
"""

from __future__ import annotations

import json

import redis

from marketdata_assets.model.instruments import validate_instrument


class BookKeys:
    def __init__(self, prefix: str):
        self.prefix = prefix

    def book(self, instrument: str) -> str:
        return f"{self.prefix}:book:{validate_instrument(instrument)}"

    def tob(self, instrument: str) -> str:
        return f"{self.prefix}:tob:{validate_instrument(instrument)}"

    def state(self, instrument: str) -> str:
        return f"{self.prefix}:depthstate:{validate_instrument(instrument)}"

    def channel(self, instrument: str) -> str:
        return f"{self.prefix}:events:book:{validate_instrument(instrument)}"


class LiveBook:
    """Synchronous reader of the live book: ``LiveBook(url, prefix).book("ESH24")``."""

    def __init__(self, url: str, prefix: str):
        self.keys = BookKeys(prefix)
        self.client = redis.Redis.from_url(url)

    def book(self, instrument: str) -> dict | None:
        raw = self.client.get(self.keys.book(instrument))
        return None if raw is None else json.loads(raw)

    def top_of_book(self, instrument: str) -> dict:
        raw = self.client.hgetall(self.keys.tob(instrument))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def close(self) -> None:
        self.client.close()
