"""Vectorized encoder of PostgreSQL's binary ``COPY`` format.

Row layout: ``int16`` field count, then per field an ``int32`` length (-1 for NULL) and the
big-endian value. Rows that share a NULL pattern and the byte length of every text value
share one layout, so each such group becomes a single numpy structured array: no Python
per row. Row order inside a COPY carries no meaning, so groups are written one after another.
"""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd

from marketdata_assets.storage.warehouse.frames import Column

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
PG_EPOCH_US = 946_684_800_000_000       # 2000-01-01 in Unix µs
PG_EPOCH_DAYS = 10_957                  # 2000-01-01 in Unix days
_FIXED = {"ts": (">i8", 8), "date": (">i4", 4), "f8": (">f8", 8), "i8": (">i8", 8), "i2": (">i2", 2)}
_JSONB_VERSION = b"\x01"


def _pg_values(col: Column) -> np.ndarray:
    if col.kind == "ts":
        return col.values - PG_EPOCH_US
    if col.kind == "date":
        return col.values - PG_EPOCH_DAYS
    return col.values


def _text_codes(col: Column) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    """Per-row code into the unique values, their byte lengths, and the encoded uniques."""
    codes, uniques = pd.factorize(pd.Series(col.values, dtype=object), use_na_sentinel=True)
    prefix = _JSONB_VERSION if col.kind == "json" else b""
    encoded = [prefix + str(u).encode("utf-8") for u in uniques]
    lengths = np.array([len(e) for e in encoded] + [0], dtype=np.int64)  # last slot: NULL
    codes = np.where(codes < 0, len(encoded), codes)
    return codes, lengths[codes], encoded


def encode(columns: list[Column]) -> bytes:
    """The whole COPY payload (signature, rows, trailer) for ``columns`` of equal length."""
    n = len(columns[0].values) if columns else 0
    if n == 0:
        return SIGNATURE + TRAILER
    texts = {c.name: _text_codes(c) for c in columns if c.kind in ("text", "json")}
    # one layout per row: null bit of every column and byte length of every text value,
    # combined exactly (mixed radix over the small set of values each part takes)
    parts = [c.null.astype(np.int64) for c in columns] + [texts[name][1] for name in texts]
    key = np.zeros(n, dtype=np.int64)
    radix = 1
    for part in parts:
        codes, uniques = pd.factorize(part)
        if len(uniques) > 1:
            key += codes.astype(np.int64) * radix
            radix *= len(uniques)
            if radix > 2**62:
                raise OverflowError("too many distinct row layouts for one COPY")
    groups, _ = pd.factorize(key)
    chunks = [SIGNATURE]
    for g in range(groups.max() + 1):
        rows = np.flatnonzero(groups == g)
        first = rows[0]
        nulls = [bool(c.null[first]) for c in columns]
        lengths = {name: int(texts[name][1][first]) for name in texts}
        fields = [("nfields", ">i2")]
        for i, col in enumerate(columns):
            fields.append((f"l{i}", ">i4"))
            if not nulls[i]:
                fields.append((f"v{i}", _FIXED[col.kind][0] if col.kind in _FIXED else f"S{lengths[col.name]}"))
        arr = np.zeros(len(rows), dtype=np.dtype(fields))
        arr["nfields"] = len(columns)
        for i, col in enumerate(columns):
            if nulls[i]:
                arr[f"l{i}"] = -1
            elif col.kind in _FIXED:
                arr[f"l{i}"] = _FIXED[col.kind][1]
                arr[f"v{i}"] = _pg_values(col)[rows]
            else:
                codes, _, encoded = texts[col.name]
                arr[f"l{i}"] = lengths[col.name]
                if lengths[col.name]:
                    width = int(lengths[col.name])
                    table = np.array([e if len(e) == width else b"" for e in encoded], dtype=f"S{width}")
                    arr[f"v{i}"] = table[codes[rows]]
        chunks.append(arr.tobytes())
    chunks.append(TRAILER)
    return b"".join(chunks)
