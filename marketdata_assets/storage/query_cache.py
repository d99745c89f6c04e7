"""Redis cache of read-API results (``storage/query.py``), never stale after a rewrite.

Keys (``<prefix>`` = ``MARKETDATA_REDIS_PREFIX``):

- ``<prefix>:qcache:<sha256 of the normalized query, 32 hex>`` - hash: ``versions`` (JSON of
  ``partition_versions`` of every partition the query covers, read *before* the rows) and
  ``arrow`` (the result as an LZ4 Arrow IPC stream); expires after ``MARKETDATA_QUERY_CACHE_TTL_S``.
- ``<prefix>:qcache:stats`` - hash of counters ``hits``, ``misses``, ``evictions`` (an entry
  dropped because a covered partition was rewritten, archived or restored since).

Every partition write, archive and restore bumps the partition's version in its own
transaction, so a hit is served only when no covered partition changed since the entry
was computed; a changed (or newly written) partition turns the lookup into an eviction and
a miss. Counters live in Redis so the sidecar's ``/metrics`` shows every process's traffic.
"""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa

from marketdata_assets.storage.query import Query, run
from marketdata_assets.storage.warehouse import Warehouse

STATS = ("hits", "misses", "evictions")


def covered_versions(wh: Warehouse, q: Query) -> dict[str, int]:
    """``instrument|date`` → version of every written partition the query can touch."""
    out = {}
    for instrument in q.instruments:
        rows = wh.read("partition_versions", {"instrument": instrument}, dates=q.dates())
        out.update({f"{instrument}|{d}": int(v) for d, v in zip(rows["trading_date"], rows["version"], strict=True)})
    return dict(sorted(out.items()))


def encode(frame: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="lz4")) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def decode(payload: bytes) -> pd.DataFrame:
    return pa.ipc.open_stream(payload).read_all().to_pandas()


class QueryCache:
    def __init__(self, redis_client, prefix: str, ttl_s: int):
        self.redis = redis_client
        self.prefix = prefix
        self.ttl_s = int(ttl_s)

    def key(self, q: Query) -> str:
        return f"{self.prefix}:qcache:{q.digest()}"

    @property
    def stats_key(self) -> str:
        return f"{self.prefix}:qcache:stats"

    def _count(self, name: str) -> None:
        self.redis.hincrby(self.stats_key, name, 1)

    def get(self, q: Query, versions: dict[str, int]) -> pd.DataFrame | None:
        key = self.key(q)
        entry = self.redis.hgetall(key)
        if not entry:
            self._count("misses")
            return None
        if json.loads(entry[b"versions"]) != versions:
            self.redis.delete(key)
            self._count("evictions")
            self._count("misses")
            return None
        self._count("hits")
        return decode(entry[b"arrow"])

    def put(self, q: Query, versions: dict[str, int], frame: pd.DataFrame) -> None:
        key = self.key(q)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"versions": json.dumps(versions), "arrow": encode(frame)})
            pipe.expire(key, self.ttl_s)
            pipe.execute()

    def read(self, wh: Warehouse, q: Query) -> pd.DataFrame:
        """The cached answer when no covered partition changed, else computed and stored."""
        versions = covered_versions(wh, q)     # before the rows: a concurrent write makes the entry stale
        hit = self.get(q, versions)
        if hit is not None:
            return hit
        frame = run(wh, q)
        self.put(q, versions, frame)
        return frame

    def stats(self) -> dict[str, int]:
        raw = self.redis.hgetall(self.stats_key)
        return {name: int(raw.get(name.encode(), 0)) for name in STATS}
